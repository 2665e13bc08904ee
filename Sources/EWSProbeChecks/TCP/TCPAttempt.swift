import EWSProbeTransport

/// One address's connect: how long it took, or why it failed.
struct TCPAttempt: Sendable {
    var address: String
    var seconds: Double
    var failure: TransportError?

    var reason: String? {
        guard let failure else { return nil }
        switch failure.kind {
        case .refused: return "refused"
        case .timeout: return "timeout"
        default: return "unreachable"
        }
    }
}
