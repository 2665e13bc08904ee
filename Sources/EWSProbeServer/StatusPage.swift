import EWSProbeCore
import EWSProbeExposition
import Foundation

/// The HTML status pages, readable without JavaScript: `/` lists every target with each check's
/// status and reason and a strip of its last runs; `/status?target=NAME` shows those runs with
/// their step traces in `<details>` elements.
enum StatusPage {
    static let style = """
        <style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}
        td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}td:last-child{white-space:nowrap}
        .pass{background:#dfd}.warn{background:#ffd}.fail{background:#fdd}.skip{color:#888}
        .runs a{display:inline-block;width:.9em;height:.9em;margin-right:2px;border:1px solid #999;text-decoration:none}
        pre{background:#f6f6f6;padding:.5em;overflow-x:auto}summary{cursor:pointer}</style>
        """

    static func render(_ targets: [ResultStore.TargetState], now: Double = Date().timeIntervalSince1970) -> String {
        let failing = targets.filter { $0.latest?.status == .fail }.count
        var html = """
            <!doctype html><html><head><meta charset="utf-8"><title>ewsprobe</title>\(style)</head><body>
            <h1>ewsprobe</h1><p>\(targets.count) target(s), \(failing) failing.
            <a href="/metrics">metrics</a></p>
            <table><tr><th>target</th><th>status</th><th>checks</th><th>last runs</th><th>last run</th></tr>

            """
        for state in targets {
            let name = escape(state.target.name)
            let link = "<a href=\"/status?target=\(percentEncoded(state.target.name))\">\(name)</a>"
            let url = "<br><small>\(escape(state.target.endpoint.description))</small>"
            guard let report = state.latest else {
                html += "<tr><td>\(link)\(url)</td><td>pending</td><td></td><td></td><td>never</td></tr>\n"
                continue
            }
            html += "<tr><td>\(link)\(url)</td><td class=\"\(report.status.rawValue)\">\(report.status.rawValue)</td>"
            html += "<td>\(checkList(report))</td><td class=\"runs\">\(runStrip(state))</td>"
            html += "<td>\(Timestamp.text(report.startedAt))<br><small>\(age(report.startedAt, now: now)), run \(state.runs)"
            html += ", \(state.failedRuns) failed</small></td></tr>\n"
        }
        html += "</table></body></html>\n"
        return html
    }

    /// One target: its latest checks, then every kept run, newest first, with its trace.
    static func renderTarget(_ state: ResultStore.TargetState, now: Double = Date().timeIntervalSince1970) -> String {
        let target = state.target
        var html = """
            <!doctype html><html><head><meta charset="utf-8"><title>ewsprobe: \(escape(target.name))</title>\(style)</head><body>
            <p><a href="/">all targets</a></p><h1>\(escape(target.name))</h1>
            <p>\(escape(target.endpoint.description)) · module \(escape(target.module.name)) · every \(DurationText.format(target.interval))
            · timeout \(DurationText.format(target.timeout)) · \(state.runs) run(s), \(state.failedRuns) failed</p>

            """
        if let latest = state.latest { html += "<h2>Latest</h2>\(checkList(latest))\n" }
        html += "<h2>Last \(state.history.count) run(s)</h2>\n"
        for (index, run) in state.history.enumerated().reversed() {
            let latest = index == state.history.count - 1
            html += "<details id=\"run-\(index)\"\(latest ? " open" : "")><summary class=\"\(run.status.rawValue)\">"
            html += "\(Timestamp.text(run.startedAt)) · \(run.status.rawValue) · "
            html += String(format: "%.3f s", run.durationSeconds)
            html +=
                "\(run.reasons.isEmpty ? "" : " · " + escape(run.reasons.joined(separator: ", "))) <small>(\(age(run.startedAt, now: now)))</small>"
            html += "</summary>"
            if let trace = run.textReport {
                html += "<pre>\(escape(trace))</pre></details>\n"
            } else {
                html += "<p><small>trace not kept (older traces share a memory budget over all targets)</small></p></details>\n"
            }
        }
        html += "</body></html>\n"
        return html
    }

    static func checkList(_ report: ProbeReport) -> String {
        var checks = ""
        for check in report.checks {
            let reason = check.reason.map { " <b>\(escape($0))</b>" } ?? ""
            checks +=
                "<div class=\"\(check.status.rawValue)\">\(escape(check.check)): \(check.status.rawValue)\(reason) – \(escape(check.summary))</div>"
        }
        return checks
    }

    /// The kept runs as small coloured squares, oldest first, each linking to its trace.
    static func runStrip(_ state: ResultStore.TargetState) -> String {
        var strip = ""
        let page = "/status?target=\(percentEncoded(state.target.name))"
        for (index, run) in state.history.enumerated() {
            let title = "\(Timestamp.text(run.startedAt)) \(run.status.rawValue) \(run.reasons.joined(separator: " "))"
            strip += "<a class=\"\(run.status.rawValue)\" href=\"\(page)#run-\(index)\" title=\"\(escape(title))\">&nbsp;</a>"
        }
        return strip
    }

    static func age(_ startedAt: Double, now: Double) -> String {
        "\(max(0, Int(now - startedAt))) s ago"
    }

    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
