import CAres
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Drives every DNS lookup of the process on one thread with c-ares and poll(2): a lookup
/// costs a socket, not a thread, so no number of silent DNS servers can occupy the resolver,
/// and each lookup ends at its own deadline whatever /etc/resolv.conf's timeout says.
public final class DNSLookupLoop: Sendable {
    private let submissions = Mutex<[DNSLookup]>([])
    private let wakePipe = WakePipe()

    /// Starts the loop's thread; `ProbeRuntime` makes the process's one loop.
    package init() {
        _ = ares_library_init(ARES_LIB_INIT_ALL)
        ServiceThread.start("ews-dns") { [self] in self.run() }
    }

    func lookup(_ host: String, query: DNSLookup.Query = .addresses, source: Resolver.Source, deadline: ContinuousClock.Instant) async
        -> Result<DNSLookup.Answer, ResolveFailure>
    {
        let lookup = DNSLookup(host: host, query: query, source: source, deadline: deadline)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                lookup.continuation = continuation
                submissions.withLock { $0.append(lookup) }
                wake()
            }
        } onCancel: {
            lookup.cancelled.store(true, ordering: .releasing)
            wake()
        }
    }

    private func wake() { wakePipe.wake() }

    // MARK: loop thread only

    private func run() {
        var active: [DNSLookup] = []
        var fds: [pollfd] = []
        var owners: [Int] = []  // index into `active` for each pollfd after the wake pipe
        while true {
            for lookup in submissions.withLock({ pending in
                defer { pending.removeAll() }; return pending
            }) {
                lookup.start()
                active.append(lookup)
            }
            let now = ContinuousClock.now
            active.removeAll { lookup in
                if lookup.outcome == nil, lookup.cancelled.load(ordering: .acquiring) || now >= lookup.deadline,
                    let channel = lookup.channel
                {
                    lookup.expired = true
                    ares_cancel(channel)  // calls back with ARES_ECANCELLED: a timeout
                }
                guard let outcome = lookup.outcome else { return false }
                complete(lookup, outcome)
                return true
            }
            fds.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wakePipe.readEnd, events: Int16(POLLIN), revents: 0))
            var waitMs = Int32(60_000)
            for (index, lookup) in active.enumerated() {
                guard let channel = lookup.channel else { continue }
                addSockets(of: channel, owner: index, to: &fds, &owners)
                waitMs = min(waitMs, timeoutMs(channel, deadline: lookup.deadline, now: now))
            }
            wakePipe.willSleep()
            if submissions.withLock({ !$0.isEmpty }) { waitMs = 0 }
            _ = poll(&fds, nfds_t(fds.count), max(0, waitMs))
            wakePipe.didWake()
            if fds[0].revents != 0 { wakePipe.drain() }
            for (position, fd) in fds.enumerated().dropFirst() where fd.revents != 0 {
                guard let channel = active[owners[position - 1]].channel else { continue }
                let readable = fd.revents & Int16(POLLIN | POLLERR | POLLHUP) != 0
                let writable = fd.revents & Int16(POLLOUT) != 0
                ares_process_fd(channel, readable ? fd.fd : ARES_SOCKET_BAD, writable ? fd.fd : ARES_SOCKET_BAD)
            }
            // Lets c-ares retransmit or give up on queries whose own timers ran out.
            for lookup in active where lookup.outcome == nil {
                if let channel = lookup.channel { ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD) }
            }
        }
    }

    private func addSockets(of channel: ares_channel, owner: Int, to fds: inout [pollfd], _ owners: inout [Int]) {
        var sockets = [ares_socket_t](repeating: ARES_SOCKET_BAD, count: Int(ARES_GETSOCK_MAXNUM))
        let bits = ares_getsock(channel, &sockets, ARES_GETSOCK_MAXNUM)
        for index in 0..<Int(ARES_GETSOCK_MAXNUM) {
            var events: Int16 = 0
            if ews_ares_readable(bits, Int32(index)) != 0 { events |= Int16(POLLIN) }
            if ews_ares_writable(bits, Int32(index)) != 0 { events |= Int16(POLLOUT) }
            guard events != 0 else { continue }
            fds.append(pollfd(fd: sockets[index], events: events, revents: 0))
            owners.append(owner)
        }
    }

    /// The sooner of c-ares' next retransmission and the lookup's deadline.
    private func timeoutMs(_ channel: ares_channel, deadline: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Int32 {
        let untilDeadline = max(0, now.duration(to: deadline).milliseconds + 1)
        var limit = timeval(tv_sec: Int(min(untilDeadline / 1000, 60)), tv_usec: Int(untilDeadline % 1000) * 1000)
        var out = timeval()
        guard let next = ares_timeout(channel, &limit, &out) else { return Int32(min(untilDeadline, 60_000)) }
        return Int32(min(60_000, Int64(next.pointee.tv_sec) * 1000 + Int64(next.pointee.tv_usec) / 1000 + 1))
    }

    private func complete(_ lookup: DNSLookup, _ outcome: Result<DNSLookup.Answer, ResolveFailure>) {
        if let channel = lookup.channel { ares_destroy(channel) }
        lookup.channel = nil
        let continuation = lookup.continuation
        lookup.continuation = nil
        continuation?.resume(returning: outcome)
    }
}
