@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

extension ProbeRuntime {
    /// One runtime for the whole test process, as `main` makes one for ewsprobe's.
    static let test = ProbeRuntime()
}
