import EWSProbeCore
import EWSProbeTransport
import Foundation

/// The `forms_auth` verdict, and the pure rule that reads one hop of the redirect walk: a
/// verdict, or the next same-site URL to ask.
struct FormsAuthVerdict {
    var status: CheckStatus
    var reason: String?
    var summary: String
    var finding: FormsLoginClassifier.Finding?

    enum Step {
        case verdict(FormsAuthVerdict)
        case follow(EndpointURL)
    }

    /// What `hop` (the answer at `url`, the `count`-th hop) says.
    static func step(after hop: FormsHop, at url: EndpointURL, count: Int, maxRedirects: Int) -> Step {
        if let finding = FormsLoginClassifier.classify(hop) {
            return .verdict(
                FormsAuthVerdict(
                    status: .fail, reason: "forms_login_detected",
                    summary: "\(finding.vendor.displayName) in front of EWS (\(finding.evidence)); publish EWS without pre-authentication",
                    finding: finding))
        }
        guard (300..<400).contains(hop.status), let location = hop.location else {
            let summary =
                hop.status == 401 && hop.hasAuthChallenge
                ? "no forms login: EWS answers with an HTTP authentication challenge" : "no forms login (status \(hop.status))"
            return .verdict(FormsAuthVerdict(status: .pass, reason: nil, summary: summary))
        }
        if FormsLoginClassifier.isExchangeErrorPage(location) {
            return .verdict(
                FormsAuthVerdict(
                    status: .warn, reason: "exchange_error_page", summary: "Exchange redirected to its transient error page (\(location))"))
        }
        guard let next = URL(string: location, relativeTo: URL(string: url.description)).flatMap({ EndpointURL($0.absoluteString) }) else {
            return .verdict(elsewhere("EWS redirects to \(location), which is not an http(s) URL"))
        }
        guard next.host == url.host, next.port == url.port, next.scheme == url.scheme else {
            return .verdict(elsewhere("EWS redirects to another site: \(next)"))
        }
        guard count <= maxRedirects else { return .verdict(elsewhere("more than \(maxRedirects) redirects (last to \(next))")) }
        return .follow(next)
    }

    static func elsewhere(_ summary: String) -> FormsAuthVerdict {
        FormsAuthVerdict(status: .fail, reason: "redirected_elsewhere", summary: summary)
    }

    init(status: CheckStatus, reason: String?, summary: String, finding: FormsLoginClassifier.Finding? = nil) {
        self.status = status
        self.reason = reason
        self.summary = summary
        self.finding = finding
    }
}
