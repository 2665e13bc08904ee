import Foundation
import Testing

@testable import EWSProbeCore
@testable import EWSProbeTransport

/// `ProxyTunnel` on fixed answers (no socket): when credentials go, in which scheme, and how a
/// refusal, a loop or an oversized answer ends. `proxy:` in the configuration.
@Suite struct ProxyTunnelTests {
    static let credentials = ProxyCredentials(username: "LAB\\alice", password: Secret("Pr0xy-Pass!"))

    static func answer(_ status: Int, _ headers: [String] = [], body: String = "") -> [UInt8] {
        var text = "HTTP/1.1 \(status) Status\r\n" + headers.map { "\($0)\r\n" }.joined()
        text += "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        return Array(text.utf8)
    }

    static func authorization(_ request: [UInt8]) -> String? {
        String(decoding: request, as: UTF8.self).split(separator: "\r\n").first { $0.hasPrefix("Proxy-Authorization: ") }
            .map { String($0.dropFirst("Proxy-Authorization: ".count)) }
    }

    @Test func noCredentialsBeforeThe407AndBasicAfterIt() {
        var tunnel = ProxyTunnel(host: "mail.example.com", port: 443, credentials: Self.credentials)
        #expect(String(decoding: tunnel.request, as: UTF8.self).hasPrefix("CONNECT mail.example.com:443 HTTP/1.1\r\n"))
        #expect(Self.authorization(tunnel.request) == nil)
        let refusal = Self.answer(407, ["Proxy-Authenticate: Basic realm=\"proxy\""], body: "<html>denied</html>")
        // The refusal's body is read whole before the next round goes on the same connection.
        #expect(tunnel.verdict(Array(refusal.dropLast(5))) == .needMore)
        guard case .again(let next, let reconnect) = tunnel.verdict(refusal) else {
            Issue.record("no second round")
            return
        }
        #expect(!reconnect)
        #expect(Self.authorization(next) == "Basic " + Data("LAB\\alice:Pr0xy-Pass!".utf8).base64EncodedString())
        #expect(tunnel.verdict(Self.answer(200)) == .proceed(consumed: Self.answer(200).count))
        // A second 407 to the credentials ends it: no loop, no third guess.
        var again = ProxyTunnel(host: "mail.example.com", port: 443, credentials: Self.credentials)
        _ = again.verdict(refusal)
        guard case .refused(let text) = again.verdict(refusal) else {
            Issue.record("a rejected Basic was tried again")
            return
        }
        #expect(text.contains("rejected"))
        #expect(again.outcome.status == 407 && again.outcome.schemeUsed == "Basic")
    }

    @Test func ntlmBeforeBasicAndItsChallengeAnswered() throws {
        var tunnel = ProxyTunnel(host: "mail.example.com", port: 443, credentials: Self.credentials)
        let offered = Self.answer(407, ["Proxy-Authenticate: Basic realm=\"p\"", "Proxy-Authenticate: NTLM", "Connection: close"])
        guard case .again(let negotiate, let reconnect) = tunnel.verdict(offered) else {
            Issue.record("no NEGOTIATE")
            return
        }
        #expect(reconnect, "the proxy closes after this 407: the NEGOTIATE goes on a new connection")
        let token = try #require(Self.authorization(negotiate))
        #expect(token.hasPrefix("NTLM "))
        let sent = Array(try #require(Data(base64Encoded: String(token.dropFirst(5)))))
        #expect(Array(sent.prefix(12)) == Array("NTLMSSP\0".utf8) + [1, 0, 0, 0])
        // MS-NLMP 4.2's CHALLENGE, as the proxy's second 407 carries it.
        let challenge =
            "TlRMTVNTUAACAAAADAAMADgAAAAzgoriASNFZ4mrze8AAAAAAAAAACQAJABEAAAABgBwFwAAAA9TAGUAcgB2AGUAcgACAAwARABvAG0AYQBpAG4AAQAMAFMAZQByAHYAZQByAAAAAAA="
        let second = Self.answer(407, ["Proxy-Authenticate: NTLM \(challenge)"])
        guard case .again(let authenticate, false) = tunnel.verdict(second) else {
            Issue.record("no AUTHENTICATE on the same connection")
            return
        }
        let message = try #require(Self.authorization(authenticate))
        #expect(message.hasPrefix("NTLM "))
        let bytes = Array(try #require(Data(base64Encoded: String(message.dropFirst(5)))))
        #expect(Array(bytes.prefix(12)) == Array("NTLMSSP\0".utf8) + [3, 0, 0, 0])
        #expect(!String(decoding: authenticate, as: UTF8.self).contains("Pr0xy-Pass!"), "NTLM sends no password")
    }

    @Test func refusalsLoopsAndOversizedAnswersEnd() {
        var unknown = ProxyTunnel(host: "h", port: 443, credentials: Self.credentials)
        guard case .refused(let text) = unknown.verdict(Self.answer(407, ["Proxy-Authenticate: Kerberos-Special realm=x"])) else {
            Issue.record("an unknown scheme was answered")
            return
        }
        #expect(text.contains("Kerberos-Special"))
        var anonymous = ProxyTunnel(host: "h", port: 443, credentials: nil)
        guard case .refused(let required) = anonymous.verdict(Self.answer(407, ["Proxy-Authenticate: Basic"])) else {
            Issue.record("no refusal without credentials")
            return
        }
        #expect(required.contains("no proxy credentials"))
        #expect(unknown.outcome.offersNoKnownScheme)
        // A proxy's thousand schemes reach no summary: the distinct first eight are kept.
        var crowded = ProxyTunnel(host: "h", port: 443, credentials: nil)
        _ = crowded.verdict(Self.answer(407, (0..<1000).map { "Proxy-Authenticate: X\($0 % 500)" }))
        #expect(crowded.outcome.offeredSchemes == (0..<8).map { "X\($0)" })
        var denied = ProxyTunnel(host: "h", port: 443, credentials: Self.credentials)
        #expect(denied.verdict(Self.answer(403)) == .refused("the proxy answered CONNECT with status 403"))
        var endless = ProxyTunnel(host: "h", port: 443, credentials: nil)
        let head = Array("HTTP/1.1 200 OK\r\n".utf8) + Array(repeating: UInt8(ascii: "x"), count: ProxyTunnel.answerLimit + 1)
        guard case .refused = endless.verdict(head) else {
            Issue.record("an endless head was waited for")
            return
        }
        var garbage = ProxyTunnel(host: "h", port: 443, credentials: nil)
        #expect(garbage.verdict(Array("SSH-2.0-OpenSSH_9.2\r\n\r\n".utf8)) == .refused("not an HTTP proxy answer"))
    }

    @Test(arguments: [
        ("proxy: {url: https://p.example.com:3128}", "not an http:// proxy URL"),
        ("proxy: {url: \"http://u:pw@p.example.com:3128\"}", "never written in the proxy URL"),
        ("proxy: {url: http://p.example.com}", "the port written out"),
        ("proxy: {url: http://p.example.com:3128, password: x}", "never written inline"),
        ("proxy: {url: http://p.example.com:3128, username: u}", "username needs password_file"),
        ("proxy: {url: http://p.example.com:3128, password_env: P}", "needs a username"),
        ("proxy: {url: http://p.example.com:3128, no_proxy: [\"*\"]}", "not a host name"),
        ("proxy: {username: u, password_env: P}", "proxy needs url"),
        ("proxy: {url: http://p.example.com:3128, user: u}", "user"),
    ])
    func badProxySettingsNameTheirLine(setting: String, message: String) throws {
        let yaml = "modules:\n  m:\n    checks: [tcp]\n    \(setting)\n"
        let error = #expect(throws: ConfigError.self) { try ConfigLoader.load(yaml: yaml, name: "proxy.yml") }
        #expect(error?.line == 4, "\(String(describing: error))")
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
    }

    @Test func targetProxyOverridesTheModulesAndNoProxyBypasses() throws {
        let yaml = """
            modules:
              m:
                checks: [dns, tcp]
                proxy: {url: "http://proxy.example.com:3128", username: svc, password_env: PROXY_PW, no_proxy: [.internal.example.com]}
            targets:
              - {name: a, url: "https://mail.example.com/EWS/Exchange.asmx", module: m}
              - {name: b, url: "https://mail.internal.example.com/EWS/Exchange.asmx", module: m}
              - name: c
                url: https://mail.example.org/EWS/Exchange.asmx
                module: m
                proxy: {url: "http://10.1.2.3:8080"}
            """
        let config = try ConfigLoader.load(yaml: yaml, name: "proxy.yml")
        let byName = Dictionary(uniqueKeysWithValues: config.targets.map { ($0.name, $0) })
        #expect(byName["a"]?.proxy?.host == "proxy.example.com" && byName["a"]?.proxy?.username == "svc")
        #expect(byName["b"]?.proxy == nil)
        #expect(byName["c"]?.proxy?.host == "10.1.2.3" && byName["c"]?.proxy?.port == 8080 && byName["c"]?.proxy?.username == nil)
    }

    @Test func aReadableProxyPasswordFileIsAWarning() throws {
        let file = try DirectoryLab.passwordFile("Pr0xy-Pass!")
        chmod(file, 0o644)
        let yaml = """
            targets:
              - url: https://mail.example.com/EWS/Exchange.asmx
                proxy: {url: "http://proxy.example.com:3128", username: svc, password_file: \(file)}
            """
        let config = try ConfigLoader.load(yaml: yaml, name: "w.yml")
        #expect(config.warnings.count == 1 && config.warnings.first?.line == 3, "\(config.warnings)")
        #expect(config.warnings.first?.message.contains("proxy password file") == true)
    }
}
