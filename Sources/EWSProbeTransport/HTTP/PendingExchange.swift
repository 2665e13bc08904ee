import Synchronization

/// A standalone exchange running on its own, with no task waiting on it: the probe's anonymous
/// SOAP POST. Checks that judge only the connection (`tcp`'s connect, `tls`'s handshake) get it
/// as soon as the handshake is done, so a server that then stalls or closes costs them nothing;
/// checks that judge the answer wait for it.
public final class PendingExchange: Sendable {
    package let secured = OneShot<Result<SecuredConnection, TransportError>>()
    package let answer = OneShot<Result<HTTPResponse, TransportError>>()
    private let isTLS: Bool
    private let canceller = Mutex<(@Sendable () -> Void)?>(nil)

    init(isTLS: Bool) {
        self.isTLS = isTLS
    }

    /// Set by the transport that runs the exchange.
    func onCancel(_ cancel: @escaping @Sendable () -> Void) {
        canceller.withLock { $0 = cancel }
    }

    /// Connected (and the handshake done): called on the loop thread.
    func connectionSecured(_ facts: SecuredConnection) {
        secured.fulfil(.success(facts))
    }

    func finish(_ result: Result<HTTPResponse, TransportError>) {
        switch result {
        case .success(let response): secured.fulfil(.success(SecuredConnection(response)))
        case .failure(let error):
            secured.fulfil(SecuredConnection(reachedBefore: error, tls: isTLS).map { .success($0) } ?? .failure(error))
        }
        answer.fulfil(result)
    }

    /// Stops the exchange if it still runs (a finished one costs nothing: no loop wake-up).
    package func cancel() {
        guard !answer.isDone else { return }
        canceller.withLock { $0 }?()
    }

    /// Waits for a milestone; a cancelled waiter cancels the exchange, as a cancelled
    /// `Transport.exchange` does.
    package func wait<Value>(_ milestone: OneShot<Value>) async -> Value {
        await withTaskCancellationHandler {
            await milestone.value()
        } onCancel: {
            cancel()
        }
    }
}
