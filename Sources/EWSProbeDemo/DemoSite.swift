import EWSProbeChecks
import EWSProbeTransport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL

/// A small simulated EWS site on loopback, so `ewsprobe demo` shows real results without Exchange.
/// It answers the EWS URL like on-premises Exchange does without credentials: 401 with one
/// `WWW-Authenticate` per offered scheme.
public enum DemoSite {
    /// A request context that knows the client's address: the demo farm picks its "server" by the
    /// client's source port, so each TCP connection sticks to one server but fresh ones move,
    /// like a balancer without source-IP persistence.
    public struct Context: RequestContext {
        public var coreContext: CoreRequestContextStorage
        let remotePort: Int

        public init(source: ApplicationRequestContextSource) {
            coreContext = .init(source: source)
            remotePort = source.channel.remoteAddress?.port ?? 0
        }
    }

    static let farmServers = ["CAS1", "CAS2"]

    /// The non-sticky farm's answer to an NTLM NEGOTIATE: a CHALLENGE naming the server.
    static func farmAnswer(_ request: Request, _ context: Context) -> Response {
        // Linux hands out even source ports in steps: mix the bits before picking.
        let mixed = (UInt32(truncatingIfNeeded: context.remotePort) &* 2_654_435_761) >> 28
        let server = farmServers[Int(mixed) % farmServers.count]
        var headers = HTTPFields()
        headers.append(HTTPField(name: HTTPField.Name("X-FEServer")!, value: server))
        if let auth = request.headers[.authorization], auth.hasPrefix("NTLM ") {
            let info = NTLMTargetInfo(pairs: [
                (NTLMTargetInfo.ID.nbComputerName.rawValue, NTLMCrypto.utf16le(server)),
                (NTLMTargetInfo.ID.nbDomainName.rawValue, NTLMCrypto.utf16le("DEMO")),
                (NTLMTargetInfo.ID.dnsComputerName.rawValue, NTLMCrypto.utf16le("\(server.lowercased()).demo.test")),
            ])
            let challenge = NTLMChallenge.encode(
                flags: .census, serverChallenge: (0..<8).map { _ in UInt8.random(in: 0...255) }, targetName: server, targetInfo: info,
                version: NTLMVersion(major: 10, minor: 0, build: 17763))
            headers.append(HTTPField(name: .wwwAuthenticate, value: "NTLM " + Data(challenge).base64EncodedString()))
        } else {
            headers.append(HTTPField(name: .wwwAuthenticate, value: "NTLM"))
            headers.append(HTTPField(name: .wwwAuthenticate, value: "Basic realm=\"mail.demo.test\""))
        }
        return Response(status: .unauthorized, headers: headers)
    }

    static func router(cloud: DemoCloud? = nil) -> Router<Context> {
        let router = Router(context: Context.self)
        cloud?.routes(router)
        router.post("/farm/EWS/Exchange.asmx") { request, context in farmAnswer(request, context) }
        let challenge: @Sendable (Request, Context) async throws -> Response = { _, _ in
            var headers = HTTPFields()
            headers.append(HTTPField(name: .wwwAuthenticate, value: "Negotiate"))
            headers.append(HTTPField(name: .wwwAuthenticate, value: "NTLM"))
            headers.append(HTTPField(name: .wwwAuthenticate, value: "Basic realm=\"mail.demo.test\""))
            headers.append(HTTPField(name: HTTPField.Name("X-FEServer")!, value: "DEMO-CAS1"))
            return Response(status: .unauthorized, headers: headers)
        }
        router.post("/EWS/Exchange.asmx", use: challenge)
        router.get("/EWS/Exchange.asmx", use: challenge)
        // A hardening script switched Basic off here: the cloud connector can no longer log in.
        router.post("/basic-off/EWS/Exchange.asmx") { _, _ -> Response in
            var headers = HTTPFields()
            headers.append(HTTPField(name: .wwwAuthenticate, value: "Negotiate"))
            headers.append(HTTPField(name: .wwwAuthenticate, value: "NTLM"))
            return Response(status: .unauthorized, headers: headers)
        }
        // A reverse proxy publishing EWS behind OWA forms authentication.
        router.post("/forms/EWS/Exchange.asmx") { _, _ -> Response in
            var headers = HTTPFields()
            headers.append(HTTPField(name: .location, value: "/owa/auth/logon.aspx?replaceCurrent=1&reason=0&url=%2fEWS%2fExchange.asmx"))
            headers.append(HTTPField(name: .setCookie, value: "PBack=0; path=/"))
            return Response(status: .found, headers: headers)
        }
        router.get("/EWS/healthcheck.htm") { _, _ in "200 OK\n" }
        router.post("/autodiscover/autodiscover.xml") { request, _ -> Response in
            let asked = String(buffer: try await request.body.collect(upTo: 64 * 1024))
            return autodiscoverAnswer(asked: asked, authority: request.head.authority ?? "mail.demo.test")
        }
        return router
    }

    /// The demo's Autodiscover (found through its SRV record, answering without authentication,
    /// which a real Exchange would not): `@demo.test` is told the site's own EWS URL, `@legacy.demo.test`
    /// an old server's, which the configured URL no longer is.
    static func autodiscoverAnswer(asked: String, authority: String) -> Response {
        let legacy = asked.lowercased().contains("@legacy.demo.test")
        let ews = legacy ? "https://legacy-cas.demo.test/EWS/Exchange.asmx" : "https://\(authority)/EWS/Exchange.asmx"
        let xml = """
            <?xml version="1.0" encoding="utf-8"?>
            <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
              <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
                <Account><AccountType>email</AccountType><Action>settings</Action>
                  <Protocol><Type>EXCH</Type><EwsUrl>https://cas1.demo.local/EWS/Exchange.asmx</EwsUrl></Protocol>
                  <Protocol><Type>EXPR</Type><EwsUrl>\(ews)</EwsUrl></Protocol>
                </Account>
              </Response>
            </Autodiscover>
            """
        var headers = HTTPFields()
        headers.append(HTTPField(name: .contentType, value: "text/xml; charset=utf-8"))
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: xml)))
    }

    /// The bundled config, pointed at the demo site's port. 127.0.0.2 has nothing listening,
    /// which stands in for a farm node that is down; `closedPort` stands in for a firewall.
    /// Every target over HTTPS, as the product is used: the site's certificate comes from the
    /// demo CA (`caFile`), so the healthy target passes `tls` too.
    public static func config(
        sitePort: Int, closedPort: Int, tlsPort: Int, caFile: String, revokedPort: Int? = nil, dnsPort: Int? = nil,
        directory: DemoDirectory? = nil, proxy: DemoProxy? = nil, cloud: DemoCloud? = nil
    ) -> String {
        """
        global:
          interval: 15s
          timeout: 5s
        modules:
          cloud_connector:
            checks: [dns, tcp, tls, auth_methods, forms_auth]
            ca_file: \(caFile)
          farm:
            checks: [dns, tcp, tls, auth_methods, lb_affinity]
            ca_file: \(caFile)
          https_node:
            checks: [dns, tcp, tls, auth_methods]
            ca_file: \(caFile)
        \(proxy.map { proxyModule($0, caFile: caFile) } ?? "")\(dnsPort.map { autodiscoverModules(dnsPort: $0, caFile: caFile) } ?? "")\(directory?.moduleYAML ?? "")targets:
          - name: demo-healthy
            url: https://mail.demo.test:\(sitePort)/EWS/Exchange.asmx
            module: \(dnsPort == nil ? "cloud_connector" : "cloud_connector_autodiscover")
            resolve: ["mail.demo.test:\(sitePort):127.0.0.1"]
            labels: {site: demo}
          - name: demo-one-node-down
            url: https://farm.demo.test:\(sitePort)/EWS/Exchange.asmx
            module: cloud_connector
            resolve: ["farm.demo.test:\(sitePort):127.0.0.1,127.0.0.2"]
            labels: {site: demo}
          - name: demo-basic-disabled
            url: https://mail.demo.test:\(sitePort)/basic-off/EWS/Exchange.asmx
            module: cloud_connector
            resolve: ["mail.demo.test:\(sitePort):127.0.0.1"]
            labels: {site: demo}
          - name: demo-forms-login
            url: https://mail.demo.test:\(sitePort)/forms/EWS/Exchange.asmx
            module: cloud_connector
            resolve: ["mail.demo.test:\(sitePort):127.0.0.1"]
            labels: {site: demo}
          - name: demo-cert-self-signed-expiring
            url: https://mail.demo.test:\(tlsPort)/EWS/Exchange.asmx
            module: https_node
            resolve: ["mail.demo.test:\(tlsPort):127.0.0.1"]
            labels: {site: demo}
          - name: demo-farm-not-sticky
            url: https://mail.demo.test:\(sitePort)/farm/EWS/Exchange.asmx
            module: farm
            resolve: ["mail.demo.test:\(sitePort):127.0.0.1"]
            labels: {site: demo}
          - name: demo-port-closed
            url: https://closed.demo.test:\(closedPort)/EWS/Exchange.asmx
            module: cloud_connector
            resolve: ["closed.demo.test:\(closedPort):127.0.0.1"]
            labels: {site: demo}
        \(proxy == nil ? "" : proxyTarget(sitePort: sitePort))\(revokedPort.map { revokedTarget(port: $0) } ?? "")\(dnsPort == nil ? "" : autodiscoverTarget(sitePort: sitePort))\(directory?.targetsYAML() ?? "")\(cloud?.targetsYAML(sitePort: sitePort, caFile: caFile) ?? "")
        """
    }

    /// The healthy site's module with Autodiscover (asking the demo's DNS server, which has its
    /// SRV record), and a module discovering an address whose Autodiscover is out of date.
    static func autodiscoverModules(dnsPort: Int, caFile: String) -> String {
        """
          cloud_connector_autodiscover:
            checks: [dns, tcp, tls, auth_methods, forms_auth, autodiscover]
            ca_file: \(caFile)
            dns: {server: "127.0.0.1:\(dnsPort)"}
            autodiscover: {email: probe@demo.test}
          autodiscover_legacy:
            checks: [dns, autodiscover]
            ca_file: \(caFile)
            dns: {server: "127.0.0.1:\(dnsPort)"}
            autodiscover: {email: probe@legacy.demo.test}

        """
    }

    static func autodiscoverTarget(sitePort: Int) -> String {
        """
          - name: demo-autodiscover-mismatch
            url: https://mail.demo.test:\(sitePort)/EWS/Exchange.asmx
            module: autodiscover_legacy
            resolve: ["mail.demo.test:\(sitePort):127.0.0.1"]
            labels: {site: demo}

        """
    }

    /// A node whose certificate the demo CA has revoked (its CRL says so; `tls` fetches it).
    static func revokedTarget(port: Int) -> String {
        """
          - name: demo-cert-revoked
            url: https://\(DemoPKI.revokedName):\(port)/EWS/Exchange.asmx
            module: https_node
            resolve: ["\(DemoPKI.revokedName):\(port):127.0.0.1"]
            labels: {site: demo}

        """
    }

    /// The healthy site again, through the demo's own authenticating CONNECT proxy.
    static func proxyModule(_ proxy: DemoProxy, caFile: String) -> String {
        """
          via_proxy:
            checks: [dns, tcp, tls, auth_methods, forms_auth]
            ca_file: \(caFile)
            proxy: {url: "http://127.0.0.1:\(proxy.port)", username: \(DemoProxy.username), password_file: \(proxy.passwordFile)}

        """
    }

    static func proxyTarget(sitePort: Int) -> String {
        """
          - name: demo-via-proxy
            url: https://mail.demo.test:\(sitePort)/EWS/Exchange.asmx
            module: via_proxy
            labels: {site: demo}

        """
    }

    /// Starts the HTTPS node (self-signed, expiring certificate) and returns its port.
    public static func startTLS() throws -> Int {
        try DemoTLSSite(hostName: "mail.demo.test").port
    }

    /// The names the demo's certificate carries (its targets' hosts).
    static let hostNames = ["mail.demo.test", "farm.demo.test", "closed.demo.test"] + DemoCloud.hostNames

    /// The running site: its port, the task running it, the CA file to trust, and the port of
    /// the node with the revoked certificate.
    public struct Started: Sendable {
        public var port: Int
        public var task: Task<Void, any Error>
        public var caFile: String
        public var revokedPort: Int
        /// The demo's DNS server (the Autodiscover SRV records).
        public var dnsPort: Int
        /// The demo's Microsoft 365 tenant, served by the same site.
        let cloud: DemoCloud

        /// The bundled config for this site and the demo's other peers.
        public func config(tlsPort: Int, directory: DemoDirectory?, proxy: DemoProxy?) -> String {
            DemoSite.config(
                sitePort: port, closedPort: DemoSite.closedPort(), tlsPort: tlsPort, caFile: caFile, revokedPort: revokedPort,
                dnsPort: dnsPort, directory: directory, proxy: proxy, cloud: cloud)
        }
    }

    /// Starts the site over HTTPS on 127.0.0.1, with a certificate from the demo's own CA whose
    /// CRL the demo publishes over http, and the node with the revoked certificate; returns once
    /// they listen.
    public static func start(logger: Logger) async throws -> Started {
        let crl = try DemoCRLServer()
        let pki = try DemoPKI(names: hostNames, crlURL: crl.url)
        crl.publish(pki.crlDER)
        let revoked = try DemoTLSSite(certificatePEM: pki.revokedLeafPEM, keyPEM: pki.revokedKeyPEM)
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(pki.leafPEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(pki.keyPEM.utf8), format: .pem)))
        let cloud = try await DemoCloud()
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router(cloud: cloud),
            server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "demo-ews"),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger)
        let task = Task { try await app.run() }
        var iterator = stream.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw DemoError(message: "the demo site did not start") }
        let dns = try DemoDNS(autodiscoverDomains: ["demo.test", "legacy.demo.test"], sitePort: port)
        return Started(port: port, task: task, caFile: pki.caFile, revokedPort: revoked.port, dnsPort: dns.port, cloud: cloud)
    }

    /// A loopback port with nothing listening: bind, read the port, close.
    public static func closedPort() -> Int {
        let (fd, port) = LoopbackSocket.bind()
        if fd >= 0 { close(fd) }
        return port
    }
}

struct DemoError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
