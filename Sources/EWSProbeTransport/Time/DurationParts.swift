import Foundation

/// A duration as the C libraries and reports want it: seconds as a Double, whole milliseconds,
/// a `timeval` for socket and libldap timeouts.
extension Duration {
    public var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }

    public var milliseconds: Int64 {
        let c = components
        return c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000
    }

    /// Whole milliseconds, at least one: a zero timeout means "wait forever" to the C calls.
    package var timeval: timeval {
        let micros = max(1000, milliseconds * 1000)
        return Foundation.timeval(tv_sec: Int(micros / 1_000_000), tv_usec: Int(micros % 1_000_000))
    }
}
