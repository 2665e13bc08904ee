import EWSProbeTransport
import Foundation
import Synchronization

/// Where the addresses a probe connects to came from.
public enum AddressSource: String, Sendable {
    /// The resolver answered.
    case dns
    /// A `resolve` pin (config or --resolve) named them; no lookup happened.
    case pinned
    /// The URL's host is an IP address.
    case literal
    /// The addresses are the outbound proxy's: the proxy resolves the URL's host itself.
    case proxy
}

/// The outcome of resolving the target's host, shared by every check of one run.
public struct AddressResolution: Sendable {
    public var addresses: [String]
    public var source: AddressSource
    public var failure: ResolveFailure?
    public var durationSeconds: Double
    /// How the proxy's own host was found, when `source` is `.proxy`.
    public var proxySource: AddressSource?
}

/// Everything a check needs for one run of one target, and the work checks share:
/// `dns` resolves once, `tcp` and later checks reuse those addresses; one connection scope lets
/// a TLS handshake serve the HTTP exchanges that follow.
public final class ProbeContext: Sendable {
    public let target: TargetConfig
    public let runtime: ProbeRuntime
    /// Where the checks' HTTP goes: the runtime's transport, or a test's fake.
    public let transport: any HTTPTransport
    /// The probe's private connection pool, made when a check first asks: most probes only send
    /// standalone requests, and a curl share handle costs a wake of the curl thread to free.
    public var scope: ConnectionScope {
        lazyScope.withLock { scope in
            if let scope { return scope }
            let created = transport.makeScope()
            scope = created
            return created
        }
    }
    private let lazyScope = Mutex<ConnectionScope?>(nil)
    public let resolver: Resolver
    public let deadline: ContinuousClock.Instant
    /// False when nobody reads the checks' JSON details (scheduled runs, metrics-only `/probe`).
    public let includeDetails: Bool
    private let resolution = SharedAnswer<AddressResolution>()
    private let soapExchanges = Mutex<[String: PendingExchange]>([:])
    private let loadedPassword = Mutex<Result<Secret, SecretError>?>(nil)
    private let loadedProxyPassword = Mutex<Result<Secret, SecretError>?>(nil)
    private let usedSecrets = Mutex<[Secret]>([])
    /// What the checks of this one run share beyond the addresses and the SOAP exchange (a
    /// connector's tokens), one value per type, made by whichever check asks first.
    public let shared = RuntimeStore()

    public init(
        target: TargetConfig, runtime: ProbeRuntime, transport: (any HTTPTransport)? = nil, deadline: ContinuousClock.Instant? = nil,
        includeDetails: Bool = true
    ) {
        self.includeDetails = includeDetails
        self.target = target
        self.runtime = runtime
        self.transport = transport ?? runtime.transport
        self.resolver = runtime.resolver(target.plan.resolverSource)
        self.deadline = deadline ?? ContinuousClock.now + target.timeout
    }

    /// The target's password, read once per run: the checks that send it and the redaction of
    /// the run's results then know the same value, even when the file is rotated meanwhile.
    public func password() throws(SecretError) -> Secret? {
        try Self.loadOnce(target.password, loadedPassword)
    }

    /// A secret this run sent or received (a client secret, an assertion, a token): the run's
    /// results are redacted of it before they leave the run.
    public func remember(_ secret: Secret) {
        usedSecrets.withLock { $0.append(secret) }
    }

    public var rememberedSecrets: [Secret] { usedSecrets.withLock { $0 } }

    /// `text` without what the run remembered: for server text before it is cut to a bound,
    /// since a cut secret no longer matches the run's final redaction.
    public func redactingRemembered(_ text: String) -> String {
        let secrets = rememberedSecrets
        return secrets.isEmpty ? text : SecretRedactor(tokens: secrets).redact(text)
    }

    /// The proxy account's password, read once per run as the target's is.
    public func proxyPassword() throws(SecretError) -> Secret? {
        try Self.loadOnce(target.proxy?.password, loadedProxyPassword)
    }

    private static func loadOnce(
        _ reference: SecretReference?, _ cache: borrowing Mutex<Result<Secret, SecretError>?>
    ) throws(SecretError) -> Secret? {
        guard let reference else { return nil }
        let result = cache.withLock { loaded in
            if let loaded { return loaded }
            let result = Result { () throws(SecretError) in try reference.load() }
            loaded = result
            return result
        }
        return try result.get()
    }

    /// The tunnel to the origin through the proxy at `address` (one of the proxy's resolved
    /// addresses); nil without a proxy. An unreadable proxy password leaves no credentials, so
    /// the proxy's 407 says so (the tunnel's check names the file).
    public func proxyRoute(through address: String?) -> ProxyRoute? {
        guard let proxy = target.proxy else { return nil }
        var credentials: ProxyCredentials?
        if let username = proxy.username, let password = try? proxyPassword() {
            credentials = ProxyCredentials(username: username, password: password)
        }
        return ProxyRoute(host: proxy.host, port: proxy.port, address: address, credentials: credentials)
    }

    /// Time left before the target's timeout, never less than a millisecond.
    public var remaining: Duration {
        max(.milliseconds(1), ContinuousClock.now.duration(to: deadline))
    }

    /// The target's addresses, resolved once per run whichever check asks first.
    public func addresses() async -> AddressResolution {
        await resolution.value { await self.resolve() }
    }

    private func resolve() async -> AddressResolution {
        guard let proxy = target.proxy else { return await resolve(target.url.host, pin: target.pin) }
        // Every connection goes to the proxy: its addresses are the ones connected to.
        var resolution = await resolve(proxy.host, pin: target.resolve.first { $0.matches(host: proxy.host, port: proxy.port) })
        resolution.proxySource = resolution.source
        resolution.source = .proxy
        return resolution
    }

    private func resolve(_ host: String, pin: ResolvePin?) async -> AddressResolution {
        if let pin {
            return AddressResolution(addresses: pin.addresses, source: .pinned, failure: nil, durationSeconds: 0)
        }
        if IPAddress.isLiteral(host) {
            return AddressResolution(addresses: [host], source: .literal, failure: nil, durationSeconds: 0)
        }
        let start = ContinuousClock.now
        let result = await resolver.resolve(host, timeout: remaining)
        let elapsed = (ContinuousClock.now - start).seconds
        switch result {
        case .success(let addresses):
            return AddressResolution(addresses: addresses, source: .dns, failure: nil, durationSeconds: elapsed)
        case .failure(let failure):
            return AddressResolution(addresses: [], source: .dns, failure: failure, durationSeconds: elapsed)
        }
    }

    deinit {
        // A check that needed only the handshake may leave the POST running: it ends with the run.
        for exchange in soapExchanges.withLock({ Array($0.values) }) { exchange.cancel() }
    }

    /// The anonymous SOAP POST to `address`, sent once per run: `tcp` (its connect), `tls` (the
    /// chain), `auth_methods` and `forms_auth` judge the same exchange, so one connection serves all.
    /// Trust is judged by `tls` from the captured chain, hence no verification here.
    public func anonymousSOAPExchange(pinnedTo address: String) async throws(TransportError) -> HTTPResponse {
        let exchange = soapExchange(pinnedTo: address)
        return try await exchange.wait(exchange.answer).get()
    }

    /// That POST's connection once open and its TLS handshake done, without waiting for the
    /// answer: `tcp` and `tls` judge it even when the server then stalls or closes.
    public func anonymousSOAPConnection(pinnedTo address: String) async throws(TransportError) -> SecuredConnection {
        let exchange = soapExchange(pinnedTo: address)
        return try await exchange.wait(exchange.secured).get()
    }

    /// Started by whichever check asks first; it runs on the transport's loop, not in that check.
    private func soapExchange(pinnedTo address: String) -> PendingExchange {
        soapExchanges.withLock { exchanges in
            if let exchange = exchanges[address] { return exchange }
            let exchange = transport.start(anonymousSOAPRequest(pinnedTo: address), policy: .oneShot)
            exchanges[address] = exchange
            return exchange
        }
    }

    public func anonymousSOAPRequest(pinnedTo address: String) -> HTTPRequest {
        var request = self.request(
            method: "POST", pinnedTo: address,
            headers: [("Content-Type", "text/xml; charset=utf-8"), ("User-Agent", BuildInfo.userAgent)],
            body: target.plan.sharedProbeBody ?? [])
        request.verifyPeer = false
        request.allowLegacyTLS = true
        request.captureCertificates = target.url.isTLS
        request.bodyLimit = 64 * 1024
        return request
    }

    /// A request to the target URL with the target's TLS settings, pinned to `address`.
    public func request(
        method: String = "GET", pinnedTo address: String?, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) -> HTTPRequest {
        var request = HTTPRequest(
            url: target.url.description, method: method, headers: headers, body: body, timeout: remaining,
            pinnedAddress: address, caFile: target.caFile)
        request.endpoint = target.url
        request.sourceAddress = target.sourceAddress
        request.proxy = proxyRoute(through: address)
        return request
    }
}

/// Small helpers every check uses to time itself and build its result.
public struct CheckTimer: Sendable {
    let start = ContinuousClock.now
    public init() {}
    public var elapsed: Double { (ContinuousClock.now - start).seconds }
}
