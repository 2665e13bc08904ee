/// The outcome of one check. Ordered so that `max` gives the worst (skip is neutral).
public enum CheckStatus: String, Sendable, CaseIterable {
    case skip, pass, warn, fail

    var severity: Int {
        switch self {
        case .skip: 0
        case .pass: 1
        case .warn: 2
        case .fail: 3
        }
    }

    /// The worse of two statuses; skip never outranks anything.
    public func worse(_ other: CheckStatus) -> CheckStatus {
        other.severity > severity ? other : self
    }
}

/// One numeric fact a check measured. The exposition layer turns these into series, adding the
/// `target` label; checks never touch a metrics registry themselves.
public struct Measurement: Sendable, Equatable {
    public var name: String
    public var help: String
    public var labels: [(String, String)]
    public var value: Double

    public init(_ name: String, _ value: Double, help: String, labels: [(String, String)] = []) {
        self.name = name
        self.value = value
        self.help = help
        self.labels = labels
    }

    public static func == (lhs: Measurement, rhs: Measurement) -> Bool {
        lhs.name == rhs.name && lhs.value == rhs.value
            && lhs.labels.elementsEqual(rhs.labels) { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}

/// What every check returns: the value that metrics, JSON, the human report and the status page render.
public struct CheckResult: Sendable {
    public var check: String
    public var status: CheckStatus
    /// Stable snake_case code; nil on pass.
    public var reason: String?
    public var summary: String
    public var durationSeconds: Double
    public var details: [(String, JSONValue)]
    public var measurements: [Measurement]
    public var trace: [String]
    /// Lines the human report always shows under the check (e.g. the certificate chain).
    public var notes: [String] = []

    public init(
        check: String, status: CheckStatus, reason: String? = nil, summary: String,
        durationSeconds: Double = 0, details: [(String, JSONValue)] = [],
        measurements: [Measurement] = [], trace: [String] = []
    ) {
        self.check = check
        self.status = status
        self.reason = reason
        self.summary = summary
        self.durationSeconds = durationSeconds
        self.details = details
        self.measurements = measurements
        self.trace = trace
    }
}

/// One run of every check of a target's module.
public struct ProbeReport: Sendable {
    public var targetName: String
    public var url: String
    public var startedAt: Double
    public var durationSeconds: Double
    public var checks: [CheckResult]
    /// Set when the whole run hit the target's timeout before every check finished.
    public var timedOut: Bool

    public init(targetName: String, url: String, startedAt: Double, durationSeconds: Double, checks: [CheckResult], timedOut: Bool = false)
    {
        self.targetName = targetName
        self.url = url
        self.startedAt = startedAt
        self.durationSeconds = durationSeconds
        self.checks = checks
        self.timedOut = timedOut
    }

    /// Worst of the checks (fail > warn > pass; skip is neutral). A run with only skips passes.
    public var status: CheckStatus {
        let worst = checks.reduce(CheckStatus.skip) { $0.worse($1.status) }
        return worst == .skip ? .pass : worst
    }

    /// The monitoring-plugins exit code: 0 pass, 1 warn, 2 fail.
    public var exitCode: Int32 {
        switch status {
        case .fail: 2
        case .warn: 1
        case .pass, .skip: 0
        }
    }
}
