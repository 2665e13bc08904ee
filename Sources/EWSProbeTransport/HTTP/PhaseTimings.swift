/// When each phase of an exchange finished, in seconds since it started (libcurl's cumulative
/// timers), and the per-phase durations derived from them.
public struct PhaseTimings: Sendable, Equatable {
    public var nameLookup: Double = 0
    public var connect: Double = 0
    public var tlsHandshake: Double = 0
    public var preTransfer: Double = 0
    public var firstByte: Double = 0
    public var total: Double = 0

    public init() {}

    /// (phase, seconds) pairs in the blackbox_exporter naming: resolve, connect, tls, processing, transfer.
    public var phases: [(String, Double)] {
        let connected = max(connect, nameLookup)
        let secured = tlsHandshake > 0 ? tlsHandshake : connected
        var result: [(String, Double)] = [
            ("resolve", nameLookup),
            ("connect", max(0, connected - nameLookup)),
            ("tls", tlsHandshake > 0 ? max(0, tlsHandshake - connected) : 0),
        ]
        if firstByte > 0 {
            result.append(("processing", max(0, firstByte - max(secured, preTransfer))))
            result.append(("transfer", max(0, total - firstByte)))
        }
        return result
    }
}
