import EWSProbe
import Foundation

/// The HTML status page: every target, each check's status and reason, readable without JavaScript.
enum StatusPage {
    static func render(_ targets: [ResultStore.TargetState]) -> String {
        var html = """
            <!doctype html><html><head><meta charset="utf-8"><title>ewsprobe</title>
            <style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}
            td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
            .pass{background:#dfd}.warn{background:#ffd}.fail{background:#fdd}.skip{color:#888}</style>
            </head><body><h1>ewsprobe</h1>
            <table><tr><th>target</th><th>status</th><th>checks</th><th>last run</th></tr>

            """
        for state in targets {
            let name = escape(state.target.name)
            guard let report = state.latest else {
                html +=
                    "<tr><td>\(name)<br><small>\(escape(state.target.url.description))</small></td><td>pending</td><td></td><td>never</td></tr>\n"
                continue
            }
            var checks = ""
            for check in report.checks {
                let reason = check.reason.map { " <b>\(escape($0))</b>" } ?? ""
                checks +=
                    "<div class=\"\(check.status.rawValue)\">\(escape(check.check)): \(check.status.rawValue)\(reason) – \(escape(check.summary))</div>"
            }
            let age = Int(Date().timeIntervalSince1970 - report.startedAt)
            html += "<tr><td>\(name)<br><small>\(escape(state.target.url.description))</small></td>"
            html += "<td class=\"\(report.status.rawValue)\">\(report.status.rawValue)</td><td>\(checks)</td>"
            html += "<td>\(JSONReport.timestamp(report.startedAt))<br><small>\(age) s ago, run \(state.runs)</small></td></tr>\n"
        }
        html += "</table></body></html>\n"
        return html
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
