/// The store's renderer: Prometheus text for `/metrics`, the verbose text report for the page.
import EWSProbeCore

public struct ExpositionRenderer: ResultRenderer {
    /// The families this renderer numbers series by; a scrape of its store reads them.
    public let families = MetricFamilies()

    public init() {}

    public func series(target: TargetConfig, report: ProbeReport?, runs: Int, failedRuns: Int) -> RenderedSeries {
        MetricsRenderer.series(target: target, report: report, runs: runs, failedRuns: failedRuns, families: families)
    }

    public func textReport(_ report: ProbeReport) -> String {
        HumanReport.render(report, verbose: true)
    }
}

extension ResultStore {
    /// A store that renders for `/metrics` and the status page.
    public convenience init(traceBudget: Int = ResultStore.defaultTraceBudget) {
        self.init(renderer: ExpositionRenderer(), traceBudget: traceBudget)
    }
}
