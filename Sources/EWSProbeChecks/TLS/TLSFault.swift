import EWSProbeCore

/// One finding about one address's handshake or certificate chain, with what to do about it.
public struct TLSFault: Sendable, Equatable {
    public var reason: String
    public var status: CheckStatus
    public var message: String
    public var advice: String

    public init(reason: String, status: CheckStatus, message: String, advice: String) {
        self.reason = reason
        self.status = status
        self.message = message
        self.advice = advice
    }
}
