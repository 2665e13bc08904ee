@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// A transport with no network: it answers every exchange with `answer` and records what was
/// asked, so a check's logic can be tested without a server. The real-server tests stay.
final class FakeTransport: HTTPTransport, @unchecked Sendable {
    private let answer: @Sendable (HTTPRequest) -> Result<HTTPResponse, TransportError>
    private(set) var requests: [(HTTPRequest, ConnectionPolicy)] = []

    init(answer: @escaping @Sendable (HTTPRequest) -> Result<HTTPResponse, TransportError>) {
        self.answer = answer
    }

    static func response(status: Int, headers: [(String, String)] = [], body: String = "") -> HTTPResponse {
        var connection = ConnectionFacts()
        connection.newConnections = 1
        return HTTPResponse(
            status: status, httpVersion: "1.1", headers: headers, body: Array(body.utf8), bodyTruncated: false,
            timings: PhaseTimings(), connection: connection, tls: TLSFacts())
    }

    func exchange(_ request: HTTPRequest, policy: ConnectionPolicy) async throws(TransportError) -> HTTPResponse {
        requests.append((request, policy))
        return try answer(request).get()
    }

    func start(_ request: HTTPRequest, policy: ConnectionPolicy) -> PendingExchange {
        requests.append((request, policy))
        let pending = PendingExchange(isTLS: request.url.hasPrefix("https:"))
        pending.finish(answer(request))
        return pending
    }

    func makeScope() -> ConnectionScope { .unpooled() }

    func openStream(
        to address: String, port: Int, security: StreamSecurity, timeout: Duration, sourceAddress: String?
    ) async throws(TransportError) -> SecuredConnection {
        throw TransportError(
            kind: .refused, curlCode: nil, osErrno: 111, message: "the fake transport opens no streams", timings: PhaseTimings(),
            connection: ConnectionFacts(), tls: TLSFacts())
    }
}
