import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// The store's history and its rendered series (pure logic: no servers needed).
@Suite struct ResultStoreTests {
    static func report(_ target: String, run: Int, fail: Bool) -> ProbeReport {
        var check = CheckResult(
            check: "tcp", status: fail ? .fail : .pass, reason: fail ? "refused" : nil, summary: "run \(run)",
            measurements: [Measurement("ewsprobe_tcp_connect_success", fail ? 0 : 1, help: "h", labels: [("address", "127.0.0.1")])],
            trace: [String(repeating: "x", count: 200) + " run \(run)"])
        check.details = [("k", .string("v"))]
        return ProbeReport(targetName: target, url: "http://127.0.0.1/", startedAt: Double(run), durationSeconds: 0.01, checks: [check])
    }

    static func target(_ name: String) -> TargetConfig {
        TargetConfig(name: name, url: EndpointURL("http://127.0.0.1:1/EWS/Exchange.asmx")!)
    }

    @Test func historyKeepsTenRunsAndTracesWithinTheBudget() {
        let store = ResultStore(traceBudget: 2 * 1024)
        store.setTargets([Self.target("a"), Self.target("b")])
        for run in 1...12 { store.record(Self.report("a", run: run, fail: run % 3 == 0), lagSeconds: 0) }
        let state = store.target(named: "a")!
        #expect(state.runs == 12 && state.failedRuns == 4)
        #expect(state.history.map(\.startedAt) == (3...12).map(Double.init))
        #expect(state.history[0].reasons == ["tcp=refused"])
        // The latest trace comes from the latest report; older ones share 1 KiB per target.
        #expect(state.history[9].textReport?.contains("run 12") == true)
        let kept = state.history.dropLast().compactMap(\.textReport)
        #expect(!kept.isEmpty && kept.reduce(0) { $0 + $1.utf8.count } <= 1024)
        #expect(state.history[8].textReport?.contains("run 11") == true, "the newest older run keeps its trace first")
        #expect(state.history[0].textReport == nil)
        // Stored reports drop what only the JSON answer and the series need.
        #expect(state.latest?.checks[0].details.isEmpty == true && state.latest?.checks[0].measurements.isEmpty == true)
        #expect(state.latest?.checks[0].trace.isEmpty == true && state.latest?.checks[0].summary == "run 12")
    }

    @Test func scrapeGroupsEveryFamilyOnce() {
        let store = ResultStore()
        store.setTargets([Self.target("a"), Self.target("b\"quoted")])
        store.record(Self.report("a", run: 1, fail: true), lagSeconds: 0)
        store.record(Self.report("b\"quoted", run: 1, fail: false), lagSeconds: 0)
        // One registry for both renders: two registries may list the exporter's own metrics in
        // different orders (each dictionary has its own seed).
        let metrics = ExporterMetrics()
        let text = String(decoding: MetricsRenderer.render(store: store, metrics: metrics), as: UTF8.self)
        let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }
        #expect(Set(types).count == types.count, "one TYPE line per family")
        #expect(
            text.contains(
                "ewsprobe_tcp_connect_success{target=\"a\",address=\"127.0.0.1\"} 0\newsprobe_tcp_connect_success{target=\"b\\\"quoted\",address=\"127.0.0.1\"} 1\n"
            ))
        #expect(text.contains("ewsprobe_check_failure_info{target=\"a\",check=\"tcp\",status=\"fail\",reason=\"refused\"} 1"))
        // Sent in small chunks, the scrape is the same text.
        var chunked: [UInt8] = []
        for chunk in MetricsRenderer.chunks(store: store, metrics: metrics, chunkSize: 64) { chunked += chunk }
        #expect(String(decoding: chunked, as: UTF8.self) == text)
        // A removed target's series go with it.
        store.setTargets([Self.target("a")])
        let after = String(decoding: MetricsRenderer.render(store: store, metrics: ExporterMetrics()), as: UTF8.self)
        #expect(!after.contains("quoted"))
    }
}
