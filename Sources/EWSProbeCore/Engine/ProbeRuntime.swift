import EWSProbeTransport
import Foundation

/// Everything a process probes with, made once in `main` and handed down: the transport's
/// loop threads, the resolver's, the watchdog, the trust stores with their verdicts, and the
/// process settings they rely on. Nothing here starts on first use.
public final class ProbeRuntime: Sendable {
    public let transport: Transport
    public let dns: DNSLookupLoop
    public let watchdog: Watchdog
    public let trust: TrustStores
    /// Threads for checks that must call a blocking C library (libldap): each call is bounded by
    /// its run's deadline, and a full queue refuses at once rather than piling up. One thread
    /// per directory probe in flight (the scheduler runs at most `max_concurrency`), up to 256:
    /// a crowd of directories that never answer holds threads, not the healthy ones' turn.
    public let blocking: BoundedWorkerPool
    /// CRLs and OCSP responses, fetched once for every target that needs them (`tls`).
    public let revocation = RevocationCache()
    /// What checks keep across runs (see `RuntimeStore`).
    public let store = RuntimeStore()

    /// Starts the loop threads (`ews-curl`, `ews-direct`, `ews-dns`, `ews-watchdog`); the
    /// blocking pool's threads (`ews-block-N`) start when a directory probe waits and none is
    /// idle, and end after a minute without work.
    public init() {
        // OpenSSL writes to sockets with write(2), not send(MSG_NOSIGNAL): a peer that hung up
        // would kill the process with SIGPIPE instead of failing the exchange with EPIPE.
        signal(SIGPIPE, SIG_IGN)
        transport = Transport(curl: CurlEventLoop(), direct: DirectLoop())
        dns = DNSLookupLoop()
        watchdog = Watchdog()
        trust = TrustStores()
        blocking = BoundedWorkerPool(name: "ews-block", threads: 256, queueLimit: 1024)
    }

    /// A resolver on this runtime's loop.
    public func resolver(_ source: Resolver.Source = .system) -> Resolver {
        Resolver(source: source, loop: dns)
    }

    /// A chain verifier on this runtime's trust stores.
    public func verifier(caFile: String? = nil, time: Double? = nil) -> ChainVerifier {
        ChainVerifier(stores: trust, caFile: caFile, time: time)
    }
}
