/// Why a name did not resolve.
public enum ResolveFailure: Error, Sendable, Equatable {
    case nxdomain
    case noAddresses
    case timeout
    case resolverError(String)

    /// The stable reason code of the `dns` check.
    public var reason: String {
        switch self {
        case .nxdomain: "nxdomain"
        case .noAddresses: "no_addresses"
        case .timeout: "timeout"
        case .resolverError: "resolver_error"
        }
    }
}

/// Looks up every A and AAAA record of a name with c-ares: either as the system is configured
/// (/etc/hosts, then the servers, search list and options of /etc/resolv.conf) or by asking one
/// DNS server directly. Either way the lookup ends at the caller's deadline, and a truncated UDP
/// answer is asked again over TCP.
public struct Resolver: Sendable {
    public enum Source: Sendable, Equatable {
        case system
        /// A DNS server at address:port (e.g. a public resolver, to see what the cloud service
        /// sees when the inside has split DNS).
        case server(address: String, port: Int)
    }

    public var source: Source
    let loop: DNSLookupLoop

    public init(source: Source = .system, loop: DNSLookupLoop) {
        self.source = source
        self.loop = loop
    }

    /// IPv4 addresses first, then IPv6, without duplicates.
    public func resolve(_ host: String, timeout: Duration) async -> Result<[String], ResolveFailure> {
        switch await loop.lookup(host, source: source, deadline: ContinuousClock.now + timeout) {
        case .success(.addresses(let addresses)): .success(addresses)
        case .success(.services): .failure(.noAddresses)
        case .failure(let failure): .failure(failure)
        }
    }

    /// The SRV records of `name` (at most 64, as the server ordered them; `SRVRecord.ordered`
    /// gives RFC 2782's order), from the same servers and under the same deadline rules.
    public func services(_ name: String, timeout: Duration) async -> Result<[SRVRecord], ResolveFailure> {
        switch await loop.lookup(name, query: .services, source: source, deadline: ContinuousClock.now + timeout) {
        case .success(.services(let records)): .success(records)
        case .success(.addresses): .failure(.noAddresses)
        case .failure(let failure): .failure(failure)
        }
    }
}
