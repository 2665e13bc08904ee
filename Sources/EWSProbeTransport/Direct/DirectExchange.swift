// CAres: once ares.h is in the module, Swift attributes glibc's socket type constants
// (SOCK_STREAM, SOCK_NONBLOCK) to it and Glibc alone no longer shows them.
import CAres
import COpenSSL
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One HTTP/1.1 exchange on a new connection of its own to a pinned address, driven without
/// libcurl: a non-blocking socket, a TLS handshake on the shared `ClientTLSContext`, one request
/// written, one response read, the connection closed. It serves the probe's single-connection
/// requests (the `tcp` connect, the anonymous SOAP POST `tls`/`auth_methods`/`forms_auth` judge),
/// where curl's per-connection setup was most of a probe's cost, and `lb_affinity`'s kept-alive
/// legs (`further`). Created by any thread, driven only by the `DirectLoop` thread.
final class DirectExchange: @unchecked Sendable {
    private enum Stage {
        case connecting, preambleSending, preambleReceiving, handshaking, sending, receiving, finished
    }

    let request: HTTPRequest
    let url: EndpointURL
    let address: String
    /// The port connected to: the URL's, or the proxy's when the stream is a CONNECT tunnel.
    let port: Int
    let deadline: ContinuousClock.Instant
    let cancelled = Atomic<Bool>(false)
    /// Called once on the loop thread with the outcome; set before the exchange is submitted.
    var onComplete: (@Sendable (Result<HTTPResponse, TransportError>) -> Void)?
    /// Called on the loop thread once connected and, for https, the handshake done.
    var onSecured: (@Sendable (SecuredConnection) -> Void)?

    private(set) var fd: Int32 = -1
    /// What poll should wait for: POLLIN or POLLOUT.
    private(set) var interest: Int16 = Int16(POLLOUT)
    /// When the current request began (its timings count from here).
    private var start = ContinuousClock.now
    private var stage = Stage.connecting
    private var ssl: OpaquePointer?
    private var handshakeDone = false
    private var outgoing: [UInt8] = []
    private var sent = 0
    private var reader: ResponseReader
    private var timings = PhaseTimings()
    private var connection = ConnectionFacts()
    private var tls = TLSFacts()

    /// Only open the connection (and do the handshake), send nothing.
    let connectOnly: Bool
    /// How the stream is secured before the HTTP exchange (or instead of one).
    let security: StreamSecurity
    /// The preamble's own state (a proxy's authentication takes rounds) and what it sends next.
    private var preamble: (any StreamPreamble)?
    private var preambleRequest: [UInt8] = []
    private var preambleSent = 0
    private var preambleReceived: [UInt8] = []

    /// The steps still to take after the current request (a sequence's; set before submit): a
    /// reuse step keeps the connection while the server keeps it open (as libcurl reuses one, a
    /// new connection where it does not), a fresh step opens another.
    var further: ArraySlice<SequenceStep> = []
    /// Whether the sequence goes on after an answer; set before submit.
    var proceed: (@Sendable (HTTPResponse) -> Bool)?
    /// A sequence's answers before the last, in order.
    private(set) var earlier: [HTTPResponse] = []
    /// The current request went on a connection an earlier answer left open.
    private var reusing = false
    /// A reused connection found closed was replaced once for the current request (curl retries so).
    private var retried = false
    /// Bytes of the current answer have arrived.
    private var answered = false
    /// The current answer ended when the server closed the connection.
    private var endedAtClose = false
    /// The session of the connection before, offered to the next one (`HTTPRequest.tlsResumption`).
    private var offeredSession: OpaquePointer?

    init(request: HTTPRequest, url: EndpointURL, address: String, security: StreamSecurity, connectOnly: Bool) {
        self.connectOnly = connectOnly
        self.security = security
        self.request = request
        self.url = url
        self.address = address
        port = request.proxy?.port ?? url.port
        preamble = security.preamble
        preambleRequest = preamble?.request ?? []
        deadline = ContinuousClock.now + request.timeout
        reader = ResponseReader(
            headerLimit: ResponseReader.headerByteLimit, bodyLimit: request.bodyLimit, bodyExpected: request.method != "HEAD")
        connection.peerAddress = address
        connection.peerPort = port
    }

    var isFinished: Bool { stage == .finished }

    private var elapsed: Double { (ContinuousClock.now - start).seconds }

    // MARK: loop thread

    /// Opens the socket and starts connecting.
    func begin() {
        let v6 = IPAddress.isV6(address)
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return fail(.other, "socket: \(String(cString: strerror(errno)))", errno: errno) }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if let source = request.sourceAddress, !SocketAddress.bind(fd, toSource: source, v6: v6) {
            return fail(.other, "Couldn't bind to '\(source)': \(String(cString: strerror(errno)))", errno: errno)
        }
        // The routing sends only address literals here; anything else fails as an invalid argument.
        guard let peer = SocketAddress(ip: address, port: UInt16(port)) else { return connectFailed(EINVAL) }
        let rc = peer.withSockaddr { connect(fd, $0, $1) }
        if rc == 0 {
            connected()
        } else if errno == EINPROGRESS {
            interest = Int16(POLLOUT)
        } else {
            connectFailed(errno)
        }
    }

    /// Moves the exchange on as far as it goes without blocking.
    func advance(buffer: UnsafeMutableRawBufferPointer) {
        switch stage {
        case .connecting:
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error == 0 { connected() } else { connectFailed(error) }
        case .preambleSending: sendPreamble()
        case .preambleReceiving: receivePreamble(buffer)
        case .handshaking: handshake()
        case .sending: send()
        case .receiving: receive(buffer)
        case .finished: return
        }
    }

    /// Ends the exchange if its time is up.
    func checkDeadline(_ now: ContinuousClock.Instant) {
        guard stage != .finished, now >= deadline else { return }
        let ms = Int(elapsed * 1000)
        if stage == .connecting {
            fail(.timeout, "Connection timed out after \(ms) milliseconds", errno: ETIMEDOUT)
        } else {
            fail(.timeout, "Operation timed out after \(ms) milliseconds with \(reader.body.count) bytes received", errno: 0)
        }
    }

    func cancel() {
        fail(.cancelled, "cancelled", errno: 0)
    }

    private func connected() {
        timings.connect = elapsed
        var local = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
        }
        (connection.localAddress, connection.localPort) = Self.describe(local)
        connection.newConnections = 1
        if preamble != nil {
            stage = .preambleSending
            interest = Int16(POLLOUT)
            sendPreamble()
        } else {
            secure()
        }
    }

    /// After the connect (and any preamble): the handshake, or the protocol in clear.
    private func secure() {
        guard let (serverName, legacy) = security.handshake else {
            onSecured?(SecuredConnection(timings: timings, connection: connection, tls: tls))
            return startRequest()
        }
        let context =
            legacy
            ? ClientTLSContext.legacy.value : request.tlsResumption ? ClientTLSContext.resumable.value : ClientTLSContext.standard.value
        guard let ssl = SSL_new(context) else { return fail(.tls, "SSL_new failed", errno: 0) }
        self.ssl = ssl
        if !legacy, request.tlsResumption, let offeredSession {
            tls.sessionOffered = SSL_set_session(ssl, offeredSession) == 1
        }
        SSL_set_fd(ssl, fd)
        if !IPAddress.isLiteral(serverName) { _ = ewsossl_set_sni(ssl, serverName) }
        stage = .handshaking
        handshake()
    }

    private func sendPreamble() {
        let bytes = preambleRequest
        while preambleSent < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + preambleSent, bytes.count - preambleSent, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                preambleSent += n
                continue
            }
            if n < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
            return fail(.protocolError, "Failed sending the preamble: \(String(cString: strerror(errno)))", errno: errno)
        }
        stage = .preambleReceiving
        interest = Int16(POLLIN)
    }

    private func receivePreamble(_ buffer: UnsafeMutableRawBufferPointer) {
        guard preamble != nil else { return }
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
            guard n > 0 else {
                let reason = n == 0 ? "the peer closed the connection" : String(cString: strerror(errno))
                return fail(.protocolError, "No answer to the preamble: \(reason)", errno: n == 0 ? 0 : errno)
            }
            preambleReceived.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            let verdict = preamble!.verdict(preambleReceived)
            connection.proxy = preamble?.proxyOutcome
            switch verdict {
            case .needMore: continue
            case .refused(let reason): return fail(.protocolError, reason, errno: 0)
            case .again(let next, let reconnect):
                preambleRequest = next
                preambleSent = 0
                preambleReceived = []
                if reconnect { return reopen() }
                stage = .preambleSending
                interest = Int16(POLLOUT)
                return sendPreamble()
            case .proceed(let consumed):
                // The tunnel is open once the proxy said 2xx, whatever follows (curl counts so too).
                connection.proxy?.tunnelSeconds = elapsed
                // Bytes past the answer would belong to the next protocol, which speaks first.
                guard consumed == preambleReceived.count else {
                    return fail(.protocolError, "the peer sent data after its answer to the preamble", errno: 0)
                }
                timings.preTransfer = elapsed
                return secure()
            }
        }
    }

    /// The peer closed after its answer (a proxy's 407 with `Connection: close`): the next round
    /// goes on a new connection to the same address.
    private func reopen() {
        close(fd)
        fd = -1
        stage = .connecting
        begin()
    }

    private func connectFailed(_ code: Int32) {
        let text = String(cString: strerror(code))
        let message =
            "Failed to connect to \(IPAddress.bracketed(address)) port \(connection.peerPort) after \(Int(elapsed * 1000)) ms: \(text)"
        let kind: TransportError.Kind = code == ECONNREFUSED ? .refused : code == ETIMEDOUT ? .timeout : .unreachable
        fail(kind, message, errno: code)
    }

    private func handshake() {
        guard let ssl else { return }
        ERR_clear_error()
        let rc = SSL_connect(ssl)
        if rc == 1 {
            handshakeDone = true
            timings.tlsHandshake = elapsed
            tls.version = String(cString: SSL_get_version(ssl))
            if let cipher = SSL_get_current_cipher(ssl) { tls.cipher = String(cString: SSL_CIPHER_get_name(cipher)) }
            if let chain = SSL_get_peer_cert_chain(ssl) {
                tls.chain = (0..<OPENSSL_sk_num(chain)).compactMap { index in
                    OpaquePointer(OPENSSL_sk_value(chain, index)).map { Certificate(X509Object(retaining: $0)) }
                }
            }
            tls.stapledOCSP = StapledResponse.read(ssl)
            tls.resumed = SSL_session_reused(ssl) == 1
            onSecured?(SecuredConnection(timings: timings, connection: connection, tls: tls))
            startRequest()
            return
        }
        if wouldBlock(rc) { return }
        fail(.tls, Self.openSSLError(ssl, rc, in: IPAddress.endpoint(address, connection.peerPort)), errno: 0)
    }

    private func startRequest() {
        timings.preTransfer = elapsed
        if connectOnly { return succeed() }
        outgoing = requestBytes()
        stage = .sending
        send()
    }

    private func send() {
        while sent < outgoing.count {
            let count = outgoing.count - sent
            let n: Int = outgoing.withUnsafeBytes { bytes in
                let pointer = bytes.baseAddress! + sent
                if let ssl {
                    ERR_clear_error()
                    return Int(SSL_write(ssl, pointer, Int32(count)))
                }
                return Glibc.send(fd, pointer, count, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                sent += n
                continue
            }
            if wouldBlock(n) { return }
            if staleConnection() { return reconnect() }
            return fail(.protocolError, "Failed sending the request: \(ioError(n))", errno: errno)
        }
        stage = .receiving
        interest = Int16(POLLIN)
    }

    private func receive(_ buffer: UnsafeMutableRawBufferPointer) {
        while true {
            let n: Int
            if let ssl {
                ERR_clear_error()
                n = Int(SSL_read(ssl, buffer.baseAddress, Int32(buffer.count)))
            } else {
                n = recv(fd, buffer.baseAddress, buffer.count, 0)
            }
            if n > 0 {
                answered = true
                if timings.firstByte == 0 { timings.firstByte = elapsed }
                do throws(ResponseReader.Failure) {
                    if try reader.consume(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) { return succeed() }
                } catch {
                    return failParse(error)
                }
                continue
            }
            if n < 0 || ssl != nil, wouldBlock(n) { return }
            if staleConnection() { return reconnect() }
            if isEndOfStream(n) {
                endedAtClose = true
                do throws(ResponseReader.Failure) {
                    try reader.endOfStream()
                    return succeed()
                } catch {
                    return failParse(error)
                }
            }
            return fail(.protocolError, "Failure when receiving data from the peer: \(ioError(n))", errno: errno)
        }
    }

    /// For a non-positive result: true (with the poll interest set) when the call only needs to wait.
    private func wouldBlock(_ rc: Int) -> Bool {
        if let ssl {
            switch SSL_get_error(ssl, Int32(rc)) {
            case SSL_ERROR_WANT_READ:
                interest = Int16(POLLIN)
                return true
            case SSL_ERROR_WANT_WRITE:
                interest = Int16(POLLOUT)
                return true
            default: return false
            }
        }
        guard rc < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return false }
        interest = stage == .sending ? Int16(POLLOUT) : Int16(POLLIN)
        return true
    }

    private func wouldBlock(_ rc: Int32) -> Bool { wouldBlock(Int(rc)) }

    private func isEndOfStream(_ rc: Int) -> Bool {
        guard let ssl else { return rc == 0 }
        switch SSL_get_error(ssl, Int32(rc)) {
        case SSL_ERROR_ZERO_RETURN: return true
        // A peer closing without close_notify: as curl, accepted where the body ends at close.
        case SSL_ERROR_SYSCALL: return ERR_peek_error() == 0 && (rc == 0 || errno == 0 || errno == ECONNRESET)
        default: return false
        }
    }

    private func ioError(_ rc: Int) -> String {
        if let ssl { return Self.openSSLError(ssl, Int32(rc), in: IPAddress.endpoint(address, connection.peerPort)) }
        return rc == 0 ? "connection closed" : String(cString: strerror(errno))
    }

    private func failParse(_ failure: ResponseReader.Failure) {
        switch failure {
        case .tooLarge(let text): fail(.tooLarge, text, errno: 0)
        case .malformed(let text): fail(.protocolError, "Weird server reply: \(text)", errno: 0)
        case .empty: fail(.protocolError, "Empty reply from server", errno: 0)
        }
    }

    private func requestBytes() -> [UInt8] {
        var text = "\(request.method) \(url.path) HTTP/1.1\r\nHost: \(url.authority)\r\nAccept: */*\r\n"
        for (name, value) in request.headers { text += "\(name): \(value)\r\n" }
        if let body = request.body { text += "Content-Length: \(body.count)\r\n" }
        text += "\r\n"
        var bytes = Array(text.utf8)
        if let body = request.body { bytes += body }
        return bytes
    }

    // MARK: completion

    private func succeed() {
        timings.total = elapsed
        let response = HTTPResponse(
            status: reader.head.status, httpVersion: reader.head.httpVersion, headers: reader.head.headers, body: reader.body,
            bodyTruncated: reader.bodyTruncated, timings: timings, connection: connection, tls: tls)
        guard let step = further.first, proceed?(response) ?? true else { return complete(.success(response)) }
        further = further.dropFirst()
        earlier.append(response)
        let keep = step == .reuse && keepsOpen(response) && connectionIsClean()
        next(keepingConnection: keep)
    }

    /// The next request of a sequence, on this connection when the answer left it open.
    private func next(keepingConnection: Bool) {
        start = ContinuousClock.now
        timings = PhaseTimings()
        reader = ResponseReader(
            headerLimit: ResponseReader.headerByteLimit, bodyLimit: request.bodyLimit, bodyExpected: request.method != "HEAD")
        sent = 0
        retried = false
        answered = false
        guard keepingConnection else { return reconnect() }
        reusing = true
        connection.newConnections = 0
        startRequest()
    }

    /// Whether an answer leaves its connection usable: HTTP/1.1 (or a 1.0 keep-alive), no
    /// `Connection: close`, and a body that ended by its length, not at the close or the cap.
    private func keepsOpen(_ response: HTTPResponse) -> Bool {
        let tokens = response.headerValues("Connection").flatMap { $0.lowercased().split(separator: ",") }.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        let persistent = response.httpVersion == "1.0" ? tokens.contains("keep-alive") : !tokens.contains("close")
        return persistent && !endedAtClose && !response.bodyTruncated
    }

    /// Nothing waits on the kept connection, as curl requires before reusing one: no byte that
    /// arrived after the answer's read, no FIN or reset (bytes in that same read were dropped, as
    /// curl drops them). Over TLS a record without data (a session ticket) is read and the
    /// connection stays clean; data (also data OpenSSL holds already) or a close_notify does not.
    private func connectionIsClean() -> Bool {
        var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let buffered = ssl.map { SSL_has_pending($0) == 1 } ?? false
        guard buffered || poll(&probe, 1, 0) > 0 else { return true }
        guard let ssl else { return false }
        var byte: UInt8 = 0
        ERR_clear_error()
        let n = SSL_peek(ssl, &byte, 1)
        defer { ERR_clear_error() }
        return n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_WANT_READ
    }

    /// The kept connection turned out closed before any of the answer came: the request goes
    /// once more on a new connection, which its facts then show.
    private func staleConnection() -> Bool {
        guard reusing, !retried, !answered else { return false }
        retried = true
        return true
    }

    /// A new connection (and handshake) for the current request, offering the last one's
    /// session where the request resumes; through a proxy, its CONNECT again.
    private func reconnect() {
        if request.tlsResumption, !request.allowLegacyTLS, handshakeDone, let ssl {
            releaseOfferedSession()
            offeredSession = SSL_get1_session(ssl)
        }
        release()
        reusing = false
        endedAtClose = false
        sent = 0
        tls = TLSFacts()
        connection.proxy = nil
        connection.localAddress = ""
        connection.localPort = 0
        connection.newConnections = 0
        preamble = security.preamble
        preambleRequest = preamble?.request ?? []
        preambleSent = 0
        preambleReceived = []
        stage = .connecting
        begin()
    }

    private func releaseOfferedSession() {
        if let offeredSession { SSL_SESSION_free(offeredSession) }
        offeredSession = nil
    }

    /// Ends the TLS session and closes the socket.
    private func release() {
        if let ssl {
            // close_notify for a finished session, as curl sends; never waits.
            if handshakeDone { SSL_shutdown(ssl) }
            SSL_free(ssl)
            self.ssl = nil
        }
        handshakeDone = false
        if fd >= 0 {
            close(fd)
            fd = -1
        }
    }

    private func fail(_ kind: TransportError.Kind, _ message: String, errno code: Int32) {
        timings.total = elapsed
        complete(
            .failure(
                TransportError(
                    kind: kind, curlCode: nil, osErrno: Int(code), message: message, timings: timings,
                    connection: connection, tls: tls)))
    }

    private func complete(_ result: Result<HTTPResponse, TransportError>) {
        guard stage != .finished else { return }
        stage = .finished
        release()
        releaseOfferedSession()
        ERR_clear_error()
        onComplete?(result)
        onComplete = nil
        onSecured = nil
    }

    /// The reason as curl words it: OpenSSL's error string, else what the socket said.
    static func openSSLError(_ ssl: OpaquePointer, _ rc: Int32, in endpoint: String) -> String {
        let code = ERR_get_error()
        if code != 0 {
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            return text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_SYSCALL:
            let reason = errno == 0 || rc == 0 ? "connection closed by the peer" : String(cString: strerror(errno))
            return "OpenSSL SSL_connect: \(reason) in connection to \(endpoint)"
        case SSL_ERROR_ZERO_RETURN: return "the peer closed the TLS session"
        default: return "OpenSSL error \(SSL_get_error(ssl, rc)) in connection to \(endpoint)"
        }
    }

    static func describe(_ storage: sockaddr_storage) -> (String, Int) {
        var storage = storage
        let family = storage.ss_family
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        return withUnsafePointer(to: &storage) { pointer in
            if family == sa_family_t(AF_INET6) {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sa in
                    var address = sa.pointee.sin6_addr
                    inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
                    return (text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, Int(UInt16(bigEndian: sa.pointee.sin6_port)))
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sa in
                var address = sa.pointee.sin_addr
                inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
                return (text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, Int(UInt16(bigEndian: sa.pointee.sin_port)))
            }
        }
    }
}
