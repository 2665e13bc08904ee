import Foundation

#if canImport(Glibc)
    import Glibc
#endif

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

/// Looks up every A and AAAA record of a name, either through the system resolver
/// (getaddrinfo: /etc/hosts, then DNS) or by asking one DNS server directly.
public struct Resolver: Sendable {
    public enum Source: Sendable, Equatable {
        case system
        /// A DNS server at address:port, asked over UDP (e.g. a public resolver, to see what the
        /// cloud service sees when the inside has split DNS).
        case server(address: String, port: Int)
    }

    public var source: Source

    public init(source: Source = .system) {
        self.source = source
    }

    /// IPv4 addresses first, then IPv6, without duplicates.
    public func resolve(_ host: String, timeout: Duration) async -> Result<[String], ResolveFailure> {
        switch source {
        case .system:
            return await withTimeout(timeout) { Resolver.getaddrinfoLookup(host) }
        case .server(let address, let port):
            let client = DNSClient(server: address, port: port)
            return await BlockingWorkers.shared.run { client.lookup(host, timeout: timeout) }
        }
    }

    /// getaddrinfo has no timeout of its own: race it against one. A lookup that outlives the
    /// race finishes later on its worker and is dropped.
    private func withTimeout(
        _ timeout: Duration, _ work: @escaping @Sendable () -> Result<[String], ResolveFailure>
    ) async -> Result<[String], ResolveFailure> {
        await withTaskGroup(of: Result<[String], ResolveFailure>?.self) { group in
            group.addTask { await BlockingWorkers.shared.run(work) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .failure(.timeout)
            }
            var outcome: Result<[String], ResolveFailure> = .failure(.timeout)
            for await result in group {
                if let result {
                    outcome = result
                    break
                }
            }
            group.cancelAll()
            return outcome
        }
    }

    /// glibc's EAI_NODATA ("no address associated with hostname"), not exported to Swift.
    static let eaiNoData: Int32 = -5

    static func getaddrinfoLookup(_ host: String) -> Result<[String], ResolveFailure> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &list)
        defer { if let list { freeaddrinfo(list) } }
        switch rc {
        case 0: break
        case EAI_NONAME: return .failure(.nxdomain)
        case eaiNoData: return .failure(.noAddresses)
        default: return .failure(.resolverError(String(cString: gai_strerror(rc))))
        }
        var v4: [String] = []
        var v6: [String] = []
        var node = list
        while let entry = node {
            if let text = numericHost(entry.pointee.ai_addr, entry.pointee.ai_addrlen) {
                if entry.pointee.ai_family == AF_INET6 {
                    if !v6.contains(text) { v6.append(text) }
                } else if !v4.contains(text) {
                    v4.append(text)
                }
            }
            node = entry.pointee.ai_next
        }
        let all = v4 + v6
        return all.isEmpty ? .failure(.noAddresses) : .success(all)
    }

    static func numericHost(_ address: UnsafeMutablePointer<sockaddr>?, _ length: socklen_t) -> String? {
        guard let address else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(address, length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else {
            return nil
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
