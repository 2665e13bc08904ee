/// What the scheduler tells about its own work (lag, runs in flight, skipped runs, durations):
/// the exposition layer's exporter metrics listen, so the engine names no metric.
public protocol SchedulerObserver: Sendable {
    func probeStarted(lagSeconds: Double)
    func runsSkipped(_ count: Int)
    func probeFinished(_ report: ProbeReport)
}
