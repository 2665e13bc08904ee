import EWSProbeCore
import Foundation
import Synchronization

/// Prometheus text for the results. Each target's series are rendered once, when its result is
/// recorded (`RenderedSeries`); a scrape only stitches the stored bytes together family by
/// family, so it costs a copy, not a rendering of every target. A scrape never runs a probe. The exporter's own metrics keep
/// their persistent swift-prometheus registry.
public enum MetricsRenderer {
    public static func render(store: ResultStore, metrics: ExporterMetrics) -> [UInt8] {
        var out: [UInt8] = []
        for chunk in chunks(store: store, metrics: metrics) { out.append(contentsOf: chunk) }
        return out
    }

    /// The scrape as a sequence of chunks of about `chunkSize` bytes, produced as they are sent:
    /// a 10,000-target scrape (41 MB) never exists as one buffer, which glibc would keep
    /// resident after the first few scrapes. A chunk and the buffer NIO copies it into stay
    /// under glibc's mmap threshold (128 KiB, `HeapPolicy`): larger ones are mapped and unmapped
    /// each time, a system call pair and a TLB flush on every core per chunk.
    public static func chunks(store: ResultStore, metrics: ExporterMetrics, chunkSize: Int = 60 * 1024) -> ScrapeChunks {
        ScrapeChunks(
            head: Array(metrics.registry.emitToString().utf8), series: store.renderedSeries(), families: families(of: store),
            chunkSize: chunkSize)
    }

    /// The families the store's series are numbered by: its renderer's.
    public static func families(of store: ResultStore) -> MetricFamilies {
        (store.renderer as? ExpositionRenderer)?.families ?? MetricFamilies()
    }

    /// The series of one report (the `/probe` endpoint's answer).
    public static func render(report: ProbeReport, target: TargetConfig, families: MetricFamilies = MetricFamilies()) -> [UInt8] {
        let one = series(target: target, report: report, runs: 1, failedRuns: report.status == .fail ? 1 : 0, families: families)
        var chunks = ScrapeChunks(head: [], series: [one], families: families, chunkSize: Int.max)
        var out = chunks.next() ?? []
        while let more = chunks.next() { out += more }
        return out
    }

    /// Renders one target's series: configuration, counters and, once it ran, the last result.
    static func series(target: TargetConfig, report: ProbeReport?, runs: Int, failedRuns: Int, families: MetricFamilies) -> RenderedSeries {
        var text = SeriesWriter(target: target.name, families: families)
        text.add(
            "ewsprobe_target_info", [("url", target.endpoint.description), ("module", target.module.name)] + target.labels, 1,
            help: "Configured targets with their URL, module and user labels; the value is always 1.")
        text.add("ewsprobe_target_interval_seconds", [], target.interval.seconds, help: "The target's configured run interval.")
        text.add("ewsprobe_probe_runs_total", [], Double(runs), help: "Probe runs of the target.", type: "counter")
        text.add(
            "ewsprobe_probe_failures_total", [], Double(failedRuns), help: "Probe runs of the target with a failed check.", type: "counter")
        guard let report else { return text.finish() }
        text.add("ewsprobe_probe_success", [], report.status == .fail ? 0 : 1, help: "Whether no check of the last run failed.")
        text.add("ewsprobe_probe_duration_seconds", [], report.durationSeconds, help: "How long the last run took.")
        text.add("ewsprobe_probe_last_run_timestamp_seconds", [], report.startedAt, help: "When the last run started.")
        for check in report.checks {
            let labels = [("check", check.check)]
            if check.status != .skip {
                text.add(
                    "ewsprobe_check_success", labels, check.status == .fail ? 0 : 1,
                    help: "Whether the check passed (warnings count as passed).")
            }
            text.add("ewsprobe_check_warning", labels, check.status == .warn ? 1 : 0, help: "Whether the check ended with a warning.")
            text.add("ewsprobe_check_duration_seconds", labels, check.durationSeconds, help: "How long the check took in the last run.")
            if let reason = check.reason {
                text.add(
                    "ewsprobe_check_failure_info", labels + [("status", check.status.rawValue), ("reason", reason)], 1,
                    help: "Why the check did not pass: its status and stable reason code; the value is always 1.")
            }
            for measurement in check.measurements {
                text.add(measurement.name, measurement.labels, measurement.value, help: measurement.help)
            }
        }
        return text.finish()
    }
}

/// The scrape text: the exporter's own metrics, then every family in first-seen order with its
/// HELP and TYPE once and the lines of each target that has it. Lines within a target are sorted
/// by family, so one cursor per target suffices.
public struct ScrapeChunks: Sequence, IteratorProtocol, Sendable {
    private var head: [UInt8]?
    private let series: [RenderedSeries]
    private let names: [[UInt8]]
    private let headers: [[UInt8]]
    private let chunkSize: Int
    /// What a chunk reserves: the chunk size, or less when the whole text is smaller (one
    /// target's `/probe` answer is a few KB; stored series are about a third of their text).
    private let reserve: Int
    private var cursors: [Int]
    private var family = 0
    private var target = 0
    private var wroteHeader = false

    init(head: [UInt8], series: [RenderedSeries], families: MetricFamilies, chunkSize: Int) {
        self.head = head.isEmpty ? nil : head
        self.series = series
        (names, headers) = families.snapshot()
        self.chunkSize = chunkSize
        let text = series.reduce(0) { $0 + 3 * $1.bytes.count } + headers.reduce(0) { $0 + $1.count }
        reserve = Swift.min(chunkSize, text) + 4096
        cursors = series.map(\.firstLine)
    }

    public mutating func next() -> [UInt8]? {
        if let head {
            self.head = nil
            return head
        }
        var out: [UInt8] = []
        out.reserveCapacity(reserve)
        while family < headers.count, out.count < chunkSize {
            if target == series.count {
                family += 1
                target = 0
                wroteHeader = false
                continue
            }
            if series[target].family(at: cursors[target]) == family {
                if !wroteHeader {
                    out.append(contentsOf: headers[family])
                    wroteHeader = true
                }
                cursors[target] = series[target].appendLines(from: cursors[target], name: names[family], into: &out)
            }
            target += 1
        }
        return out.isEmpty ? nil : out
    }
}

/// The layout of a target's series buffer: the escaped `{target="..."` label once, then per
/// line a two-byte family number and only what follows the target label (the other labels and
/// the value), lines in family order. About 1 KB for a typical target; the full text is 2.7 KB.
extension RenderedSeries {
    /// `lines` are ranges of `text`, already in family order.
    init(targetLabel: [UInt8], text: [UInt8], lines: [(family: Int, range: Range<Int>)]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(2 + targetLabel.count + 2 * lines.count + text.count)
        bytes.append(UInt8(truncatingIfNeeded: targetLabel.count >> 8))
        bytes.append(UInt8(truncatingIfNeeded: targetLabel.count))
        bytes.append(contentsOf: targetLabel)
        for line in lines {
            bytes.append(UInt8(truncatingIfNeeded: line.family >> 8))
            bytes.append(UInt8(truncatingIfNeeded: line.family))
            bytes.append(contentsOf: text[line.range])
        }
        self.init(bytes: bytes)
    }

    private var labelLength: Int { Int(bytes[0]) << 8 | Int(bytes[1]) }
    var firstLine: Int { 2 + labelLength }

    /// The family of the line at `offset`, or nil past the end.
    func family(at offset: Int) -> Int? {
        offset + 1 < bytes.count ? Int(bytes[offset]) << 8 | Int(bytes[offset + 1]) : nil
    }

    /// Writes the lines of the family at `offset` in full (`name{target="t"` + the stored tail)
    /// and returns the offset of the next family's first line.
    func appendLines(from offset: Int, name: [UInt8], into out: inout [UInt8]) -> Int {
        let family = family(at: offset)
        var offset = offset
        bytes.withUnsafeBufferPointer { stored in
            guard let base = stored.baseAddress else { return }
            let label = UnsafeBufferPointer(start: base + 2, count: labelLength)
            while offset + 1 < stored.count, Int(stored[offset]) << 8 | Int(stored[offset + 1]) == family {
                let start = offset + 2
                // Every stored line ends in a newline; memchr finds it without per-byte checks.
                guard let found = memchr(base + start, 0x0A, stored.count - start) else { offset = stored.count; break }
                let stop = start + (UnsafeRawPointer(found) - UnsafeRawPointer(base + start))
                out.append(contentsOf: name)
                out.append(contentsOf: label)
                out.append(contentsOf: UnsafeBufferPointer(start: base + start, count: stop - start + 1))
                offset = stop + 1
            }
        }
        return offset
    }
}

/// Every metric family a renderer has written, numbered in first-seen order with its HELP and
/// TYPE lines. The numbering is the order families appear in a scrape; the renderer that
/// numbers a store's series owns it.
public final class MetricFamilies: Sendable {
    public init() {}

    private struct State {
        var ids: [String: Int] = [:]
        var names: [[UInt8]] = []
        var headers: [[UInt8]] = []
    }
    private let state = Mutex(State())

    func id(_ name: String, help: String, type: String) -> Int {
        state.withLock { state in
            if let id = state.ids[name] { return id }
            let id = state.headers.count
            state.ids[name] = id
            state.names.append(Array(name.utf8))
            let help = help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: " ")
            state.headers.append(Array("# HELP \(name) \(help)\n# TYPE \(name) \(type)\n".utf8))
            return id
        }
    }

    /// Names and HELP/TYPE headers, indexed by family.
    func snapshot() -> (names: [[UInt8]], headers: [[UInt8]]) {
        state.withLock { ($0.names, $0.headers) }
    }
}

/// Writes one target's lines; every line carries the `target` label first (added when written out).
/// The lines' tails go back to back into one buffer: one allocation per target, not per line.
struct SeriesWriter {
    private let targetLabel: [UInt8]
    private let families: MetricFamilies
    private var text: [UInt8] = []
    private var lines: [(family: Int, range: Range<Int>)] = []

    init(target: String, families: MetricFamilies) {
        self.families = families
        var label = Array("{target=\"".utf8)
        Self.escape(target, into: &label)
        label.append(UInt8(ascii: "\""))
        targetLabel = label
        text.reserveCapacity(2048)
        lines.reserveCapacity(48)
    }

    mutating func add(_ name: String, _ labels: [(String, String)], _ value: Double, help: String, type: String = "gauge") {
        let family = families.id(name, help: help, type: type)
        let start = text.count
        for (key, labelValue) in labels {
            text.append(UInt8(ascii: ","))
            text.append(contentsOf: key.utf8)
            text.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "\"")])
            Self.escape(labelValue, into: &text)
            text.append(UInt8(ascii: "\""))
        }
        text.append(contentsOf: [UInt8(ascii: "}"), UInt8(ascii: " ")])
        text.append(contentsOf: Self.format(value).utf8)
        text.append(UInt8(ascii: "\n"))
        lines.append((family, start..<text.count))
    }

    /// Groups the lines by family (stable: a family's lines keep their order).
    func finish() -> RenderedSeries {
        let ordered = lines.enumerated().sorted { ($0.element.family, $0.offset) < ($1.element.family, $1.offset) }.map(\.element)
        return RenderedSeries(targetLabel: targetLabel, text: text, lines: ordered)
    }

    static func escape(_ value: String, into out: inout [UInt8]) {
        // Most values need no escaping: one copy instead of a byte at a time.
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") }) else {
            out.append(contentsOf: value.utf8)
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            default: out.append(byte)
            }
        }
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        // Microseconds are the finest any measurement means; differences of two clock readings
        // would otherwise print as 0.0012410969999999998 (and cost every target 10-20 bytes).
        // Below 4e9 (timestamps until 2096) a microsecond is still exact in a double.
        guard abs(value) < 4e9 else { return String(value) }
        let rounded = (value * 1e6).rounded() / 1e6
        return rounded == rounded.rounded() ? String(Int64(rounded)) : String(rounded)
    }
}
