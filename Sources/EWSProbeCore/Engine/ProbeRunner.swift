import EWSProbeTransport
import Foundation

/// Runs every check of a target's module once, in order, within the target's timeout.
public struct ProbeRunner: Sendable {
    public var runtime: ProbeRuntime
    /// Whether checks build their JSON details: only a JSON report shows them, and the
    /// scheduler's stored reports drop them.
    public var includeDetails: Bool
    /// Whether a check with a `check_intervals` entry longer than its target's interval carries
    /// its last passing verdict between its own runs: the scheduler's runs do; `probe` and
    /// `/probe`, asked for now, always measure.
    public var reuseRecentResults: Bool

    public init(runtime: ProbeRuntime, includeDetails: Bool = true, reuseRecentResults: Bool = false) {
        self.runtime = runtime
        self.includeDetails = includeDetails
        self.reuseRecentResults = reuseRecentResults
    }

    /// `transport` replaces the runtime's for a unit test of a check's logic.
    public func run(_ target: TargetConfig, transport: (any HTTPTransport)? = nil) async -> ProbeReport {
        let startedAt = Date().timeIntervalSince1970
        let clockStart = ContinuousClock.now
        let ctx = ProbeContext(target: target, runtime: runtime, transport: transport, includeDetails: includeDetails)
        var results: [CheckResult] = []
        var timedOut = false
        // Results measured here to keep for later runs (check_intervals), stored once redacted.
        var toKeep: [(index: Int, key: String, now: Double)] = []
        for (index, check) in target.module.checks.enumerated() {
            let name = type(of: check).name
            if Task.isCancelled || ContinuousClock.now >= ctx.deadline {
                timedOut = true
                results.append(
                    CheckResult(
                        check: name, status: .fail, reason: "probe_timeout",
                        summary: "not run: the target's timeout (\(DurationText.format(target.timeout))) was used up"))
                continue
            }
            guard index >= target.plan.applies.count || target.plan.applies[index] else {
                results.append(
                    CheckResult(
                        check: name, status: .skip, reason: "not_applicable",
                        summary: target.endpoint.kind.isCloud
                            ? "\(name) does not apply to \(target.endpoint.kind.rawValue) connectors"
                            : "\(name) does not apply to \(target.url.scheme):// endpoints"))
                continue
            }
            // Only the scheduler's runs read or write the memory: probe and /probe always measure,
            // and what they measured (details, an ad-hoc URL's target) is never carried.
            let every = target.module.checkIntervals[name].flatMap { $0 > target.interval ? $0 : nil }
            let memoryKey = CheckMemory.key(target, check: name)
            let memory = every == nil || !reuseRecentResults ? nil : runtime.store.value(CheckMemory.self) { CheckMemory() }
            let now = Date().timeIntervalSince1970
            // Half an interval of slack: a run starts a little later each time, and a verdict
            // measured at 600 s must not be carried once more at 599.9 s.
            if let every, let memory,
                let kept = memory.recent(memoryKey, every: every - target.interval / 2, now: now)
            {
                results.append(Self.carried(kept.result, age: kept.age, every: every))
                continue
            }
            let checkStart = ContinuousClock.now
            var result: CheckResult
            if type(of: check).judgesEachHost, target.endpoint.kind.isCloud {
                result = await eachHost(check, ctx)
            } else {
                result = await check.run(ctx)
            }
            if result.durationSeconds == 0 { result.durationSeconds = (ContinuousClock.now - checkStart).seconds }
            if let memory {
                // Only a pass is carried: anything else is measured again at the next run.
                if result.status == .pass { toKeep.append((results.count, memoryKey, now)) } else { memory.forget(memoryKey) }
                result.measurements.append(Self.age(0, check: name))
            }
            results.append(result)
        }
        // The one point where results leave a run: a server may reflect the credentials in any
        // text it returns, so nothing it said is stored or rendered before this.
        let redactor = Self.redactor(for: ctx)
        if !redactor.isEmpty { results = results.map(redactor.redact) }
        if !toKeep.isEmpty {
            let memory = runtime.store.value(CheckMemory.self) { CheckMemory() }
            for kept in toKeep { memory.keep(results[kept.index], for: kept.key, now: kept.now) }
        }
        return ProbeReport(
            targetName: target.name, url: target.endpoint.description, startedAt: startedAt,
            durationSeconds: (ContinuousClock.now - clockStart).seconds, checks: results, timedOut: timedOut)
    }

    /// A verdict carried from the check's last run, with its age in the summary, the trace and
    /// `ewsprobe_check_result_age_seconds`.
    static func carried(_ kept: CheckResult, age seconds: Double, every: Duration) -> CheckResult {
        var result = kept
        // This run did not run it: no time, and the exporter's duration histogram skips it.
        result.durationSeconds = 0
        let minutes = Int(seconds / 60)
        result.summary += " (measured \(minutes < 1 ? "under a minute" : "\(minutes) min") ago; every \(DurationText.format(every)))"
        result.trace = ["carried from the run \(Int(seconds)) s ago (check_intervals: every \(DurationText.format(every)))"]
        result.measurements =
            result.measurements.filter { $0.name != "ewsprobe_check_result_age_seconds" } + [age(seconds, check: kept.check)]
        return result
    }

    static func age(_ seconds: Double, check: String) -> Measurement {
        Measurement(
            "ewsprobe_check_result_age_seconds", seconds,
            help: "How old the check's verdict is: 0 when this run measured it, else the age of the run that did (check_intervals).",
            labels: [("check", check)])
    }

    /// A connector's connection check on each of its hosts: the same check on a copy of the
    /// target whose URL is that host's (and without the proxy where `no_proxy` exempts it),
    /// within the run's deadline; a host the deadline left no time for is a `probe_timeout`.
    func eachHost(_ check: any Check, _ ctx: ProbeContext) async -> CheckResult {
        var runs: [(String, CheckResult)] = []
        for url in ctx.target.endpoint.hostURLs {
            guard ContinuousClock.now < ctx.deadline else {
                let name = type(of: check).name
                runs.append(
                    (
                        url.authority,
                        CheckResult(
                            check: name, status: .fail, reason: "probe_timeout", summary: "not run: the target's timeout was used up")
                    ))
                continue
            }
            var copy = ctx.target
            copy.url = url
            if let proxy = copy.proxy, proxy.bypasses(url.host) { copy.proxy = nil }
            let hostContext = ProbeContext(
                target: copy, runtime: runtime, transport: ctx.transport, deadline: ctx.deadline, includeDetails: includeDetails)
            let checkStart = ContinuousClock.now
            var result = await check.run(hostContext)
            if result.durationSeconds == 0 { result.durationSeconds = (ContinuousClock.now - checkStart).seconds }
            runs.append((url.authority, result))
        }
        return CheckResult.combining(hosts: runs)
    }

    /// The run's own password, as its checks read it (the process's known secrets also learn
    /// it, for the log), and what its checks remembered (client secrets, assertions, tokens).
    /// Targets without credentials pay nothing.
    static func redactor(for ctx: ProbeContext) -> SecretRedactor {
        var redactor = SecretRedactor.none
        let remembered = ctx.rememberedSecrets
        if !remembered.isEmpty { redactor = SecretRedactor(tokens: remembered) }
        if let secret = try? ctx.password() {
            KnownSecrets.process.learn(secret, username: ctx.target.username)
            redactor = redactor.merged(with: SecretRedactor(password: secret, username: ctx.target.username))
        }
        if let secret = try? ctx.proxyPassword() {
            let username = ctx.target.proxy?.username
            KnownSecrets.process.learn(secret, username: username)
            redactor = redactor.merged(with: SecretRedactor(password: secret, username: username))
        }
        return redactor
    }
}
