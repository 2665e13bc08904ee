import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Drives every `DirectExchange` of the process on one thread with poll(2), bridged to
/// async/await like `CurlEventLoop`: thousands of probes cost file descriptors, not threads.
package final class DirectLoop: Sendable {
    private let submissions = Mutex<[DirectExchange]>([])
    /// Wakes poll when work is submitted or cancelled.
    private let wakePipe = WakePipe()

    /// Starts the loop's thread. SIGPIPE must be ignored first (`ProbeRuntime` does): OpenSSL
    /// writes with write(2), not send(MSG_NOSIGNAL).
    package init() {
        ServiceThread.start("ews-direct") { [self] in self.run() }
    }

    func perform(_ request: HTTPRequest, url: EndpointURL, address: String, security: StreamSecurity, connectOnly: Bool)
        async throws(TransportError) -> HTTPResponse
    {
        let exchange = DirectExchange(request: request, url: url, address: address, security: security, connectOnly: connectOnly)
        return try await outcome(of: exchange).get()
    }

    /// Runs `exchange` on the loop and waits for its last answer; cancelling the task cancels it.
    private func outcome(of exchange: DirectExchange) async -> Result<HTTPResponse, TransportError> {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                exchange.onComplete = { continuation.resume(returning: $0) }
                submit(exchange)
            }
        } onCancel: {
            cancel(exchange)
        }
    }

    /// `request` once per step, connections as the steps say (`DirectExchange.further`).
    func performSequence(
        _ request: HTTPRequest, url: EndpointURL, address: String, security: StreamSecurity, steps: [SequenceStep],
        proceed: @escaping @Sendable (HTTPResponse) -> Bool
    ) async -> [Result<HTTPResponse, TransportError>] {
        guard !steps.isEmpty else { return [] }
        let exchange = DirectExchange(request: request, url: url, address: address, security: security, connectOnly: false)
        exchange.further = steps.dropFirst()
        exchange.proceed = proceed
        let last = await outcome(of: exchange)
        // The loop thread wrote `earlier` before it resumed the continuation.
        return exchange.earlier.map { .success($0) } + [last]
    }

    /// Runs an exchange without a task waiting on it: its handshake and its answer are
    /// published to `pending` from the loop thread.
    func start(
        _ request: HTTPRequest, url: EndpointURL, address: String, security: StreamSecurity, connectOnly: Bool, pending: PendingExchange
    ) {
        let exchange = DirectExchange(request: request, url: url, address: address, security: security, connectOnly: connectOnly)
        exchange.onSecured = { pending.connectionSecured($0) }
        exchange.onComplete = { pending.finish($0) }
        pending.onCancel { [self] in cancel(exchange) }
        submit(exchange)
    }

    private func submit(_ exchange: DirectExchange) {
        submissions.withLock { $0.append(exchange) }
        wake()
    }

    private func cancel(_ exchange: DirectExchange) {
        exchange.cancelled.store(true, ordering: .releasing)
        wake()
    }

    private func wake() { wakePipe.wake() }

    // MARK: loop thread only

    private func run() {
        var active: [DirectExchange] = []
        var fds: [pollfd] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)
        while true {
            for exchange in submissions.withLock({ q in
                defer { q.removeAll(keepingCapacity: true) }; return q
            }) {
                exchange.begin()
                active.append(exchange)
            }
            let now = ContinuousClock.now
            for exchange in active {
                if exchange.cancelled.load(ordering: .acquiring) { exchange.cancel() }
                exchange.checkDeadline(now)
            }
            active.removeAll { $0.isFinished }

            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wakePipe.readEnd, events: Int16(POLLIN), revents: 0))
            var nearest = now + .seconds(1)
            for exchange in active {
                fds.append(pollfd(fd: exchange.fd, events: exchange.interest, revents: 0))
                nearest = min(nearest, exchange.deadline)
            }
            var wait = max(0, Int32(((nearest - now).seconds * 1000).rounded(.up)))
            wakePipe.willSleep()
            // Work submitted between draining the queue and now saw the loop awake: look again.
            if submissions.withLock({ !$0.isEmpty }) { wait = 0 }
            let ready = poll(&fds, nfds_t(fds.count), wait)
            wakePipe.didWake()
            guard ready > 0 else { continue }
            if fds[0].revents != 0 { wakePipe.drain() }
            for (index, exchange) in active.enumerated() where fds[index + 1].revents != 0 {
                exchange.advance(buffer: buffer)
            }
        }
    }
}
