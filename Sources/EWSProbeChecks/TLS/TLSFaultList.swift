import EWSProbeCore

/// Faults in the order found, without repeats: chain-level findings once each (OpenSSL may
/// report one gap as two codes), per-certificate findings once per certificate.
struct TLSFaultList {
    private(set) var all: [TLSFault] = []
    private static let chainLevel: Set<String> = ["incomplete_chain", "untrusted_root", "self_signed"]

    mutating func add(_ reason: String, _ status: CheckStatus, _ message: String, _ advice: String) {
        let fault = TLSFault(reason: reason, status: status, message: message, advice: advice)
        let seen = Self.chainLevel.contains(reason) ? all.contains { $0.reason == reason } : all.contains(fault)
        if !seen { all.append(fault) }
    }
}
