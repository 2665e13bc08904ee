import EWSProbeCore
import EWSProbeTransport
import Foundation

/// Walks the candidates for one address the way Outlook does and follows what they answer:
/// `redirectAddr` starts again with the new address, `redirectUrl` and HTTP redirects are
/// posted to, at most ten hops, never back to an address or URL already tried, never to plain
/// http. Credentials go only over https to a server whose certificate libcurl verified (the
/// handshake fails before any byte of the request when it does not), never over http, and only
/// to one that asked for them: each candidate is asked without them first, so a web site at the
/// domain's root that does not speak Autodiscover never sees the service account's password
/// (the leak Outlook's own walk is known for), and only within the address's domain, the EWS
/// host, or `trusted_hosts`: a redirect, a SRV record or an http candidate's Location (none of
/// which is authenticated) cannot send the password elsewhere. Outlook asks its user there; a
/// monitor has nobody to ask, so the walk stops at that 401 and says so.
final class AutodiscoverWalk {
    /// How the walk ended.
    enum Ending: Equatable {
        case settings(AutodiscoverAnswer, url: String)
        /// 401 from a verified candidate, without credentials to give (or none it may be given:
        /// the reason why in `withheld`).
        case authenticationRequired(url: String, withheld: String?)
        case failure(reason: String, summary: String)
    }

    private enum Step {
        case redirectAddress(String)
        case done(Ending)
    }

    static let maxRedirects = 10
    static let redirects: Set<Int> = [301, 302, 303, 307, 308]
    /// SRV targets tried, in RFC 2782 order: a record set of hundreds costs no more than this.
    static let maxSRVTargets = 3
    /// A real answer is a few KiB.
    static let bodyLimit = 256 * 1024

    let ctx: ProbeContext
    let credentials: (username: String, password: Secret)?
    /// The walk's own connection pool: the POST with credentials after a candidate's 401 goes on
    /// the connection that got the 401 (one handshake per candidate, not two).
    let scope: ConnectionScope
    private(set) var attempts: [AutodiscoverAttempt] = []
    private var hops = 0
    private var addresses: Set<String> = []
    private var urls: Set<String> = []
    private var untrusted = false
    private var unreadable: String?

    let trustedHosts: [String]
    let redactor: SecretRedactor
    /// The domain of the address the walk started with.
    private var home = ""

    init(_ ctx: ProbeContext, credentials: (username: String, password: Secret)?, trustedHosts: [String] = []) {
        self.ctx = ctx
        self.credentials = credentials
        self.trustedHosts = trustedHosts
        redactor = credentials.map { SecretRedactor(password: $0.password, username: $0.username) } ?? .none
        scope = ctx.transport.makeScope()
    }

    /// Server text as shown: the password's forms redacted before it is cut to a label's bound
    /// (a password echoed across the cut would otherwise keep its first characters).
    func shown(_ text: String) -> String { LabelValue.bounded(redactor.redact(text)) }

    /// The domain of `address` (lower case), nil unless it is a host name: a domain the walk
    /// puts into URLs may not carry a port, a path or anything else.
    static func domain(of address: String) -> String? {
        guard let at = address.lastIndex(of: "@"), at != address.startIndex else { return nil }
        let domain = address[address.index(after: at)...].lowercased()
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-")
        guard !domain.isEmpty, domain.count <= 253, domain.allSatisfy({ allowed.contains($0) }), !domain.hasPrefix("."),
            !domain.hasSuffix("."), !domain.contains("..")
        else { return nil }
        return domain
    }

    /// Whether `host` may receive the credentials: within the domain walked, the one started
    /// from, the EWS host, or a trusted host.
    func mayReceiveCredentials(_ host: String, domain: String) -> Bool {
        let host = host.lowercased()
        let within = { (suffix: String) in host == suffix || host.hasSuffix("." + suffix) }
        if within(domain) || within(home) || host == ctx.target.url.host { return true }
        return trustedHosts.contains { $0.hasPrefix(".") ? host.hasSuffix($0) || host == String($0.dropFirst()) : host == $0 }
    }

    func discover(_ start: String) async -> Ending {
        var address = start
        home = Self.domain(of: start) ?? ""
        while true {
            addresses.insert(address.lowercased())
            switch await walk(address) {
            case .done(let ending): return ending
            case .redirectAddress(let next):
                hops += 1
                guard hops <= Self.maxRedirects else { return Self.loop("more than \(Self.maxRedirects) redirects") }
                guard !addresses.contains(next.lowercased()) else {
                    return Self.loop("redirectAddr back to \(shown(next)), which was already asked")
                }
                guard let at = next.firstIndex(of: "@"), next.index(after: at) < next.endIndex else {
                    return .failure(
                        reason: "invalid_response", summary: "redirectAddr to \"\(shown(next))\", which is no address")
                }
                address = next
            }
        }
    }

    static func loop(_ why: String) -> Ending { .failure(reason: "redirect_loop", summary: "Autodiscover redirects in a loop: \(why)") }

    private func walk(_ address: String) async -> Step {
        guard let domain = Self.domain(of: address) else {
            return .done(.failure(reason: "invalid_response", summary: "\"\(shown(address))\" is no address to discover"))
        }
        for candidate in [AutodiscoverCandidate.domain, .autodiscoverHost] {
            if let step = await post(candidate.url(domain: domain)!, candidate, address) { return step }
        }
        if let step = await httpRedirect(domain, address) { return step }
        for url in await srvTargets(domain, address) {
            if let step = await post(url, .srv, address) { return step }
        }
        return .done(noAnswer())
    }

    /// Nothing gave an Autodiscover document: why, from what the candidates did.
    private func noAnswer() -> Ending {
        if let unreadable { return .failure(reason: "invalid_response", summary: unreadable) }
        if untrusted {
            return .failure(
                reason: "tls_untrusted",
                summary: "the only candidates that answered failed certificate verification (no credentials were sent to them)")
        }
        let time = ctx.remaining <= .milliseconds(1) ? " before the run's time ran out" : ""
        return .failure(reason: "no_autodiscover", summary: "no candidate answered with Autodiscover\(time) (\(attempts.count) tried)")
    }

    /// POSTs to `url` and follows redirects: nil when this candidate gave nothing (go on).
    private func post(_ first: String, _ firstCandidate: AutodiscoverCandidate, _ address: String) async -> Step? {
        var (url, candidate) = (first, firstCandidate)
        while true {
            urls.insert(url.lowercased())
            var attempt = AutodiscoverAttempt(candidate: candidate, url: url, address: address)
            let body = AutodiscoverRequest.body(for: address)
            var answer = await exchange(url, body: body, withCredentials: false, into: &attempt)
            let host = EndpointURL(url)?.host ?? ""
            let domain = Self.domain(of: address) ?? ""
            var withheld: String?
            if answer?.status == 401, credentials != nil {
                if !url.lowercased().hasPrefix("https://") {
                    withheld = "never over http"
                } else if !mayReceiveCredentials(host, domain: domain) {
                    withheld = "\(host) is outside \(domain) (add it to autodiscover.trusted_hosts to send them there)"
                } else {
                    answer = await exchange(url, body: body, withCredentials: true, into: &attempt)
                }
            }
            guard let response = answer else {
                attempts.append(attempt)
                return nil
            }
            switch response.status {
            case 401:
                attempt.outcome = credentials == nil || withheld != nil ? .authenticationRequired : .rejected
                attempts.append(attempt)
                if credentials == nil || withheld != nil { return .done(.authenticationRequired(url: url, withheld: withheld)) }
                return .done(.failure(reason: "auth_rejected", summary: "Autodiscover at \(url) rejects the credentials (401)"))
            case _ where Self.redirects.contains(response.status):
                guard let location = Self.location(response, base: url) else {
                    attempt.outcome = .failed("a redirect without a usable Location")
                    attempts.append(attempt)
                    return nil
                }
                attempt.outcome = .redirected(location)
                attempts.append(attempt)
                if let ending = follow(location, from: url) { return .done(ending) }
                (url, candidate) = (location, .redirect)
            case 200:
                let document = AutodiscoverResponseParser.parse(response.body)
                guard !response.bodyTruncated, document.isAutodiscover, document.refusal == nil else {
                    let why =
                        response.bodyTruncated
                        ? "the answer is larger than \(Self.bodyLimit / 1024) KiB" : document.refusal ?? "not an Autodiscover answer"
                    attempt.outcome = .failed(why)
                    attempts.append(attempt)
                    if Self.triedToBeXML(response) { unreadable = unreadable ?? "\(url) answered, but \(why)" }
                    return nil
                }
                attempt.outcome = .answered
                attempts.append(attempt)
                if let code = document.errorCode {
                    let message = shown(document.errorMessage ?? "")
                    let reason = code == "500" ? "address_not_found" : "invalid_response"
                    return .done(
                        .failure(reason: reason, summary: "Autodiscover at \(url) answers error \(code) for \(address): \(message)"))
                }
                switch document.action {
                case .settings: return .done(.settings(document, url: url))
                case .redirectAddress(let next): return .redirectAddress(next)
                case .redirectURL(let next):
                    if let ending = follow(next, from: url) { return .done(ending) }
                    (url, candidate) = (next, .redirect)
                case nil:
                    return .done(.failure(reason: "invalid_response", summary: "Autodiscover at \(url) answers without a usable Action"))
                }
            default:
                attempt.outcome = .failed("not Autodiscover (HTTP \(response.status))")
                attempts.append(attempt)
                return nil
            }
        }
    }

    /// A redirect to `next`: the failure that ends the walk, or nil to go there.
    private func follow(_ next: String, from url: String) -> Ending? {
        hops += 1
        guard next.lowercased().hasPrefix("https://") else {
            return .failure(
                reason: "insecure_redirect", summary: "\(url) redirects to \(shown(next)), which is not https")
        }
        guard hops <= Self.maxRedirects else { return Self.loop("more than \(Self.maxRedirects) redirects") }
        guard !urls.contains(next.lowercased()) else {
            return Self.loop("\(url) redirects back to \(shown(next)), which was already tried")
        }
        return nil
    }

    /// The plain-http candidate: a GET whose only acceptable answer is a redirect to https.
    private func httpRedirect(_ domain: String, _ address: String) async -> Step? {
        let url = AutodiscoverCandidate.httpRedirect.url(domain: domain)!
        urls.insert(url.lowercased())
        var attempt = AutodiscoverAttempt(candidate: .httpRedirect, url: url, address: address)
        guard let response = await exchange(url, body: nil, withCredentials: false, into: &attempt) else {
            attempts.append(attempt)
            return nil
        }
        guard Self.redirects.contains(response.status), let location = Self.location(response, base: url) else {
            attempt.outcome = .failed("no redirect to https (HTTP \(response.status))")
            attempts.append(attempt)
            return nil
        }
        attempt.outcome = .redirected(location)
        attempts.append(attempt)
        if let ending = follow(location, from: url) { return .done(ending) }
        return await post(location, .redirect, address)
    }

    /// The SRV record's targets as URLs: lowest priority first, then highest weight.
    private func srvTargets(_ domain: String, _ address: String) async -> [String] {
        let name = "_autodiscover._tcp.\(domain)"
        let started = ContinuousClock.now
        switch await ctx.resolver.services(name, timeout: ctx.remaining) {
        case .success(let records):
            return SRVRecord.ordered(records).prefix(Self.maxSRVTargets).map {
                "https://\($0.target)\($0.port == 443 ? "" : ":\($0.port)")\(AutodiscoverCandidate.path)"
            }
        case .failure(let failure):
            var attempt = AutodiscoverAttempt(candidate: .srv, url: name, address: address)
            attempt.resolved = "SRV: \(failure.reason)"
            attempt.seconds = (ContinuousClock.now - started).seconds
            attempt.outcome = .failed("no SRV record")
            attempts.append(attempt)
            return []
        }
    }

    /// The walk's way to its candidates, made on the first request (with a proxy, the proxy's
    /// address is the target's resolution).
    private var route: HostRoute?
    private func hostRoute() async -> HostRoute {
        if let route { return route }
        let through = ctx.target.proxy == nil ? nil : await ctx.addresses().addresses.first
        let made = HostRoute(ctx, proxyAddress: through)
        route = made
        return made
    }

    /// One request: nil when there was no HTTP answer (the attempt says why).
    private func exchange(_ url: String, body: [UInt8]?, withCredentials: Bool, into attempt: inout AutodiscoverAttempt) async
        -> HTTPResponse?
    {
        let started = ContinuousClock.now
        defer { attempt.seconds += (ContinuousClock.now - started).seconds }
        guard let endpoint = EndpointURL(url), endpoint.kind == .ews else {
            attempt.outcome = .failed("not an http(s) URL")
            return nil
        }
        // A silent candidate (a firewall in front of the domain's web site) must not take the
        // time the next one needs: each gets a quarter of the run's timeout, at least two seconds.
        let budget = min(ctx.remaining, max(.seconds(2), ctx.target.timeout / 4))
        let route = await hostRoute()
        let pinned: String?
        switch await route.find(endpoint, timeout: budget) {
        case .success(let found):
            pinned = found.address
            attempt.resolved = found.resolved
        case .failure(let failure):
            attempt.resolved = "DNS: \(failure.reason)"
            attempt.outcome = .failed("\(endpoint.host) does not resolve (\(failure.reason))")
            return nil
        }
        var headers = [("User-Agent", BuildInfo.userAgent)]
        if body != nil { headers.append(("Content-Type", "text/xml; charset=utf-8")) }
        // Never over http; over https libcurl verifies the certificate before it sends a byte.
        if withCredentials, let credentials, endpoint.scheme == "https" {
            headers.append(
                ("Authorization", "Basic " + Data("\(credentials.username):\(credentials.password.reveal())".utf8).base64EncodedString()))
        }
        var request = HTTPRequest(
            url: url, method: body == nil ? "GET" : "POST", headers: headers, body: body,
            timeout: max(.milliseconds(1), budget - (ContinuousClock.now - started)), pinnedAddress: pinned, caFile: ctx.target.caFile,
            verifyPeer: true, proxy: route.proxy, bodyLimit: Self.bodyLimit)
        request.endpoint = endpoint
        request.sourceAddress = ctx.target.sourceAddress
        do throws(TransportError) {
            let response = try await ctx.transport.exchange(request, policy: .pooled(scope))
            attempt.status = response.status
            return response
        } catch {
            if let tunnel = ProxyTunnelFailure(error, ctx) {
                attempt.outcome = .failed(tunnel.summary)
            } else if error.kind == .tls, error.curlCode == 60 || error.tls.verifyResult != 0 {
                untrusted = true
                attempt.outcome = .untrusted(error.message)
            } else if error.kind == .tooLarge {
                attempt.outcome = .failed("the answer is larger than \(Self.bodyLimit / 1024) KiB")
                unreadable = unreadable ?? "\(url) answered more than \(Self.bodyLimit / 1024) KiB"
            } else {
                attempt.outcome = .failed(error.kind == .timeout ? "no answer within \(Int(budget.seconds * 1000)) ms" : error.message)
            }
            return nil
        }
    }

    /// An answer that meant to be XML: a broken one of those is `invalid_response`, while a web
    /// site's HTML page at the domain root is only a candidate without Autodiscover.
    static func triedToBeXML(_ response: HTTPResponse) -> Bool {
        if response.bodyTruncated { return true }
        if let type = response.header("content-type")?.lowercased(), type.contains("xml") { return true }
        let start = response.body.prefix(64).drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        return start.starts(with: Array("<?xml".utf8)) || start.starts(with: Array("<Autodiscover".utf8))
    }

    /// The Location header, made absolute against `base`.
    static func location(_ response: HTTPResponse, base: String) -> String? {
        guard let value = response.header("location")?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        guard let resolved = URL(string: value, relativeTo: URL(string: base)) else { return nil }
        return resolved.absoluteString
    }
}
