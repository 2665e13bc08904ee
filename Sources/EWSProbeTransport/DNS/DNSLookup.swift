import CAres
import Foundation
import Synchronization

/// One name lookup in flight: its own c-ares channel (so it can be cancelled alone), its
/// deadline and the continuation waiting for it. Created by the caller, then touched only by
/// the loop thread, except `cancelled`.
final class DNSLookup: @unchecked Sendable {
    /// What is asked: the name's addresses (A and AAAA), or its SRV records.
    enum Query {
        case addresses, services
    }

    /// What came back.
    enum Answer: Sendable {
        case addresses([String])
        case services([SRVRecord])
    }

    /// SRV records kept from one answer: a set of hundreds is no more use than the first few.
    static let maxServices = 64

    let host: String
    let query: Query
    let source: Resolver.Source
    let deadline: ContinuousClock.Instant
    let cancelled = Atomic<Bool>(false)
    var continuation: CheckedContinuation<Result<Answer, ResolveFailure>, Never>?
    var channel: ares_channel?
    /// Set by the c-ares callback, which may run inside `ares_getaddrinfo` itself (an
    /// /etc/hosts answer) or inside `ares_process_fd`.
    var outcome: Result<Answer, ResolveFailure>?
    /// Set when the loop cancelled the channel because the deadline passed.
    var expired = false

    init(host: String, query: Query = .addresses, source: Resolver.Source, deadline: ContinuousClock.Instant) {
        self.host = host
        self.query = query
        self.source = source
        self.deadline = deadline
    }

    /// Makes the channel and starts the query; false when c-ares could not even start (the
    /// outcome then says why).
    func start() {
        var options = ares_options()
        var mask: Int32 = 0
        var lookups = Array("b".utf8CString)
        switch source {
        case .system:
            break  // /etc/resolv.conf (servers, search, ndots, timeout, attempts) and /etc/hosts
        case .server:
            // An explicit server is asked exactly: no /etc/hosts, no search domains.
            options.flags = ARES_FLAG_NOSEARCH
            options.timeout = 1000
            options.tries = 4
            mask |= ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS
        }
        let status = lookups.withUnsafeMutableBufferPointer { buffer in
            options.lookups = buffer.baseAddress
            return ares_init_options(&channel, &options, mask)
        }
        guard status == ARES_SUCCESS, let channel else {
            outcome = .failure(.resolverError("c-ares: \(String(cString: ares_strerror(status)))"))
            return
        }
        if case .server(let address, let port) = source {
            let csv = "\(IPAddress.endpoint(address, port))"
            let rc = ares_set_servers_ports_csv(channel, csv)
            guard rc == ARES_SUCCESS else {
                outcome = .failure(.resolverError("DNS server \(csv): \(String(cString: ares_strerror(rc)))"))
                return
            }
        }
        if query == .services {
            // A query, not a search: the name is absolute (`_autodiscover._tcp.DOMAIN`).
            ares_query(channel, host, 1 /* C_IN */, 33 /* T_SRV */, dnsServicesCallback, Unmanaged.passUnretained(self).toOpaque())
            return
        }
        var hints = ares_addrinfo_hints()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        // Sorting (RFC 6724) connects a UDP socket per address; the order is ours anyway.
        hints.ai_flags = ARES_AI_NOSORT
        ares_getaddrinfo(channel, host, nil, &hints, dnsLookupCallback, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Called from the c-ares callback.
    func finish(status: Int32, info: UnsafeMutablePointer<ares_addrinfo>?) {
        defer { if let info { ares_freeaddrinfo(info) } }
        switch status {
        case ARES_SUCCESS:
            let addresses = Self.addresses(info?.pointee.nodes)
            outcome = addresses.isEmpty ? .failure(.noAddresses) : .success(.addresses(addresses))
        default: outcome = .failure(Self.failure(status))
        }
    }

    /// Called from the SRV query's callback with the raw answer.
    func finishServices(status: Int32, answer: UnsafeMutablePointer<UInt8>?, length: Int32) {
        guard status == ARES_SUCCESS, let answer else {
            outcome = .failure(Self.failure(status == ARES_SUCCESS ? ARES_EBADRESP : status))
            return
        }
        var reply: UnsafeMutablePointer<ares_srv_reply>?
        let rc = ares_parse_srv_reply(answer, length, &reply)
        defer { if let reply { ares_free_data(reply) } }
        guard rc == ARES_SUCCESS else {
            outcome = .failure(Self.failure(rc))
            return
        }
        var records: [SRVRecord] = []
        var node = reply
        while let entry = node, records.count < Self.maxServices {
            if let host = entry.pointee.host {
                records.append(
                    SRVRecord(
                        priority: Int(entry.pointee.priority), weight: Int(entry.pointee.weight), port: Int(entry.pointee.port),
                        target: String(cString: host)))
            }
            node = entry.pointee.next
        }
        outcome = records.isEmpty ? .failure(.noAddresses) : .success(.services(records))
    }

    static func failure(_ status: Int32) -> ResolveFailure {
        switch status {
        case ARES_ENOTFOUND: .nxdomain
        case ARES_ENODATA: .noAddresses
        case ARES_ETIMEOUT, ARES_ECANCELLED, ARES_EDESTRUCTION: .timeout
        default: .resolverError(describe(status))
        }
    }

    static func describe(_ status: Int32) -> String {
        switch status {
        case ARES_ESERVFAIL: "the DNS server answered SERVFAIL"
        case ARES_EREFUSED: "the DNS server answered REFUSED"
        case ARES_ENOTIMP: "the DNS server answered NOTIMP"
        case ARES_EFORMERR: "the DNS server answered FORMERR"
        case ARES_ECONNREFUSED: "the DNS server refused the connection"
        case ARES_EBADNAME: "not a valid DNS name"
        case ARES_EBADRESP: "malformed DNS answer"
        default: String(cString: ares_strerror(status))
        }
    }

    /// IPv4 addresses first, then IPv6, without duplicates.
    static func addresses(_ first: UnsafeMutablePointer<ares_addrinfo_node>?) -> [String] {
        var v4: [String] = []
        var v6: [String] = []
        var node = first
        while let entry = node {
            if let text = IPAddress.numericHost(entry.pointee.ai_addr, socklen_t(entry.pointee.ai_addrlen)) {
                if entry.pointee.ai_family == AF_INET6 {
                    if !v6.contains(text) { v6.append(text) }
                } else if !v4.contains(text) {
                    v4.append(text)
                }
            }
            node = entry.pointee.ai_next
        }
        return v4 + v6
    }
}

private func dnsServicesCallback(
    _ arg: UnsafeMutableRawPointer?, _ status: Int32, _ timeouts: Int32, _ answer: UnsafeMutablePointer<UInt8>?, _ length: Int32
) {
    guard let arg else { return }
    Unmanaged<DNSLookup>.fromOpaque(arg).takeUnretainedValue().finishServices(status: status, answer: answer, length: length)
}

private func dnsLookupCallback(
    _ arg: UnsafeMutableRawPointer?, _ status: Int32, _ timeouts: Int32, _ info: UnsafeMutablePointer<ares_addrinfo>?
) {
    guard let arg else { return }
    Unmanaged<DNSLookup>.fromOpaque(arg).takeUnretainedValue().finish(status: status, info: info)
}
