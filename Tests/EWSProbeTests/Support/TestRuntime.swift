import EWSProbe

extension ProbeRuntime {
    /// One runtime for the whole test process, as `main` makes one for ewsprobe's.
    static let test = ProbeRuntime()
}
