import Foundation

/// One probe run raced against its hard limit: the runner honours the target's deadline itself;
/// the watchdog is the backstop for anything that does not. Past `timeout` + 1 s the run is
/// cancelled and reported as `probe_timeout` at once. The scheduler and `/probe` both run this.
public struct GuardedProbe: Sendable {
    public var runner: ProbeRunner

    public init(runner: ProbeRunner) {
        self.runner = runner
    }

    /// Runs `target` in a task of its own and returns its report (or the backstop's).
    public func run(_ target: TargetConfig) async -> ProbeReport {
        let run = GuardedRun(watchdog: runner.runtime.watchdog)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                run.start { run in
                    await self.run(target, in: run) { continuation.resume(returning: $0) }
                }
            }
        } onCancel: {
            run.cancel()
        }
    }

    /// Runs the target within `run`'s task under the backstop: `completion` gets the runner's
    /// report, or a `probe_timeout` report once `timeout` + 1 s has passed first.
    func run(_ target: TargetConfig, in run: GuardedRun, completion: @escaping @Sendable (ProbeReport) -> Void) async {
        let startedAt = Date().timeIntervalSince1970
        let hardLimit = target.timeout + .seconds(1)
        run.arm(
            at: .now + hardLimit,
            overrun: {
                ProbeReport(
                    targetName: target.name, url: target.endpoint.description, startedAt: startedAt,
                    durationSeconds: hardLimit.seconds,
                    checks: [
                        CheckResult(
                            check: "probe", status: .fail, reason: "probe_timeout",
                            summary: "the run did not finish within the timeout (\(DurationText.format(target.timeout)))")
                    ], timedOut: true)
            }, completion: completion)
        run.finish(await runner.run(target))
    }
}
