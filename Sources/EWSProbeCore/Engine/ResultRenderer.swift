/// How the store turns a run into what it keeps: a target's `/metrics` series and the run's
/// text report. The exposition layer supplies it, so the store depends on no output format and
/// rendering only ever flows from the store outwards.
public protocol ResultRenderer: Sendable {
    func series(target: TargetConfig, report: ProbeReport?, runs: Int, failedRuns: Int) -> RenderedSeries
    func textReport(_ report: ProbeReport) -> String
}
