/// What one candidate URL did, the way the Remote Connectivity Analyzer lists it.
public struct AutodiscoverAttempt: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// An Autodiscover document (settings, a redirect or the error form).
        case answered
        /// 401 from a verified server: without credentials the walk ends here.
        case authenticationRequired
        /// 401 with credentials.
        case rejected
        /// The certificate did not verify: nothing (no credentials) was sent over it.
        case untrusted(String)
        /// An HTTP redirect (the plain-http candidate's, or a POST's).
        case redirected(String)
        /// No answer, or one that is not Autodiscover (the reason in words).
        case failed(String)
    }

    public var candidate: AutodiscoverCandidate
    public var url: String
    /// The address asked (a `redirectAddr` changes it).
    public var address: String
    /// The addresses the host resolved to, or why it did not.
    public var resolved: String = ""
    public var status: Int?
    public var seconds = 0.0
    public var outcome: Outcome = .failed("not tried")

    public init(candidate: AutodiscoverCandidate, url: String, address: String) {
        self.candidate = candidate
        self.url = url
        self.address = address
    }

    /// One line for the trace and the text report.
    public var line: String {
        let status = self.status.map { "HTTP \($0)" } ?? "no HTTP answer"
        let what: String
        switch outcome {
        case .answered: what = "Autodiscover answered"
        case .authenticationRequired: what = "asks for credentials (certificate verified)"
        case .rejected: what = "credentials rejected"
        case .untrusted(let why): what = "certificate not trusted, nothing sent: \(why)"
        case .redirected(let to): what = "redirects to \(to)"
        case .failed(let why): what = why
        }
        let dns = resolved.isEmpty ? "" : " [\(resolved)]"
        return "\(candidate.rawValue) \(url)\(dns): \(status), \(what) (\(Int(seconds * 1000)) ms)"
    }
}
