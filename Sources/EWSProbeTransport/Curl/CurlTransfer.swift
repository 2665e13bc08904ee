import CCurl
import COpenSSL
import Foundation
import Synchronization

/// The state of one libcurl transfer: its easy handle, the C lists it owns, the bytes received
/// and the continuation to resume. Created by any thread; configured, driven and finished on the
/// curl loop thread only (the lock guards the hand-over and cancellation).
final class CurlTransfer: @unchecked Sendable {

    let request: HTTPRequest
    let policy: ConnectionPolicy
    /// Connections kept for later exchanges of the same scope; nil: a connection of its own.
    var scope: ConnectionScope? { policy.scope }
    private(set) var easy: UnsafeMutableRawPointer?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var connectToList: UnsafeMutablePointer<curl_slist>?
    /// libcurl writes its message here at any point of the transfer, long after the call that
    /// handed it over: storage this object owns for its whole life, not an array lent by a closure.
    private let errorBuffer: UnsafeMutablePointer<CChar>

    private var head = ResponseHead()
    private var headerBytes = 0
    private var body: [UInt8] = []
    private var bodyTruncated = false
    private var headersTooLarge = false
    /// The schemes of the proxy's `Proxy-Authenticate` headers, as they came.
    private var proxySchemes: [String] = []
    /// Set from OpenSSL's info callback when the handshake completes.
    var negotiatedVersion = ""
    var negotiatedCipher = ""
    var peerChain: [X509Object] = []
    var stapledOCSP: [UInt8]?
    private var handshakeID = 0

    private struct Control {
        var continuation: CheckedContinuation<Result<HTTPResponse, TransportError>, Never>?
        var cancelled = false
    }
    private let control = Mutex(Control())

    private let handshakes: HandshakeRegistry

    init(request: HTTPRequest, policy: ConnectionPolicy, handshakes: HandshakeRegistry) {
        self.request = request
        self.policy = policy
        self.handshakes = handshakes
        let size = Int(CURL_ERROR_SIZE) + 1
        errorBuffer = .allocate(capacity: size)
        errorBuffer.initialize(repeating: 0, count: size)
    }

    deinit {
        errorBuffer.deallocate()
    }

    func setContinuation(_ continuation: CheckedContinuation<Result<HTTPResponse, TransportError>, Never>) {
        let alreadyCancelled = control.withLock { state -> Bool in
            state.continuation = continuation
            return state.cancelled
        }
        if alreadyCancelled { finish(code: CURLE_ABORTED_BY_CALLBACK, cancelled: true) }
    }

    var isCancelled: Bool { control.withLock { $0.cancelled } }

    func markCancelled() {
        let shouldFinish = control.withLock { state -> Bool in
            state.cancelled = true
            return easy == nil
        }
        if shouldFinish { finish(code: CURLE_ABORTED_BY_CALLBACK, cancelled: true) }
    }

    /// Creates and configures the easy handle; on failure the transfer is finished at once.
    func start() -> UnsafeMutableRawPointer? {
        guard let handle = curl_easy_init() else {
            finish(code: CURLE_OUT_OF_MEMORY, cancelled: false)
            return nil
        }
        easy = handle
        let code = configure(handle)
        guard code == CURLE_OK else {
            finish(code: code, cancelled: false)
            return nil
        }
        return handle
    }

    private func configure(_ h: UnsafeMutableRawPointer) -> CURLcode {
        let userdata = Unmanaged.passUnretained(self).toOpaque()
        var results: [CURLcode] = []
        func set(_ option: CURLoption, _ value: Int) { results.append(ewscurl_setopt_long(h, option, value)) }
        func set(_ option: CURLoption, _ value: String) { results.append(value.withCString { ewscurl_setopt_ptr(h, option, $0) }) }

        set(CURLOPT_URL, request.url)
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_TIMEOUT_MS, Int(request.timeout.milliseconds))
        set(CURLOPT_CONNECTTIMEOUT_MS, Int(request.timeout.milliseconds))
        set(CURLOPT_FOLLOWLOCATION, 0)
        // No proxy from the environment: a probe goes where its configuration says.
        configureProxy(h, &results)
        set(CURLOPT_DNS_CACHE_TIMEOUT, 0)
        if request.http11 { set(CURLOPT_HTTP_VERSION, EWSCURL_HTTP_VERSION_1_1) }
        // Without a scope a connection would linger in the shared pool where another probe could
        // pick it up: it is closed instead.
        if scope == nil {
            set(CURLOPT_FRESH_CONNECT, 1)
            set(CURLOPT_FORBID_REUSE, 1)
        }
        if policy.isConnectOnly { set(CURLOPT_CONNECT_ONLY, 1) }
        // "host!" makes curl bind to the address itself, never look it up as an interface name.
        if let source = request.sourceAddress { set(CURLOPT_INTERFACE, "host!\(source)") }
        // Through a proxy the proxy resolves the origin: a pin is the proxy's own address.
        if request.proxy == nil, let address = request.pinnedAddress, let url = EndpointURL(request.url) {
            let entry = "\(IPAddress.bracketed(url.host)):\(url.port):\(IPAddress.bracketed(address)):\(url.port)"
            connectToList = curl_slist_append(nil, entry)
            results.append(ewscurl_setopt_ptr(h, CURLOPT_CONNECT_TO, connectToList))
        }
        if !request.verifyPeer {
            set(CURLOPT_SSL_VERIFYPEER, 0)
            set(CURLOPT_SSL_VERIFYHOST, 0)
            // Nothing to verify against: without this curl still loads the CA bundle into a new
            // store for every connection (the `tls` check verifies with its own cached store).
            results.append(ewscurl_setopt_ptr(h, CURLOPT_CAINFO, nil))
            results.append(ewscurl_setopt_ptr(h, CURLOPT_CAPATH, nil))
        } else if let caFile = request.caFile {
            // curl opens the file on its loop thread: a FIFO swapped in after the load would
            // stop every transfer of the process.
            if RegularFile.isRegular(caFile) {
                set(CURLOPT_CAINFO, caFile)
            } else {
                results.append(CURLE_SSL_CACERT_BADFILE)
            }
        }
        if request.captureCertificates {
            // Protocol, cipher and the chain as sent are read during the handshake: hook the
            // SSL_CTX curl creates for this (fresh, never reused) connection. (CURLOPT_CERTINFO
            // would also give the chain, but formats every field of every certificate as text
            // first, which costs more than the rest of the probe.)
            // The SSL_CTX outlives this transfer when the connection is kept: it gets an ID, not
            // a pointer, and the ID is forgotten when the transfer ends.
            handshakeID = handshakes.register(self)
            results.append(ewscurl_setopt_sslctx(h, CURLOPT_SSL_CTX_FUNCTION, HandshakeRegistry.contextCallback))
            results.append(ewscurl_setopt_ptr(h, CURLOPT_SSL_CTX_DATA, handshakes.opaque))
            results.append(ewscurl_setopt_ptr(h, CURLOPT_PRIVATE, UnsafeRawPointer(bitPattern: handshakeID)))
        }
        if request.allowLegacyTLS {
            set(CURLOPT_SSLVERSION, EWSCURL_SSLVERSION_TLSv1_0)
            set(CURLOPT_SSL_CIPHER_LIST, "DEFAULT:@SECLEVEL=0")
        }
        if let share = scope?.share { results.append(ewscurl_setopt_ptr(h, CURLOPT_SHARE, UnsafeRawPointer(share))) }

        switch request.method {
        case "GET": break
        case "HEAD": set(CURLOPT_NOBODY, 1)
        case "POST": set(CURLOPT_POST, 1)
        default: set(CURLOPT_CUSTOMREQUEST, request.method)
        }
        if let body = request.body {
            set(CURLOPT_POSTFIELDSIZE, body.count)
            results.append(body.withUnsafeBytes { ewscurl_setopt_ptr(h, CURLOPT_COPYPOSTFIELDS, $0.baseAddress) })
        }
        // An empty Expect stops curl from waiting for "100 Continue" on POST bodies.
        var list: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "Expect:")
        for (name, value) in request.headers {
            list = curl_slist_append(list, "\(name): \(value)")
        }
        headerList = list
        results.append(ewscurl_setopt_ptr(h, CURLOPT_HTTPHEADER, headerList))

        results.append(ewscurl_setopt_ptr(h, CURLOPT_ERRORBUFFER, errorBuffer))
        results.append(ewscurl_setopt_write(h, CURLOPT_WRITEFUNCTION, curlWriteBody))
        results.append(ewscurl_setopt_ptr(h, CURLOPT_WRITEDATA, userdata))
        results.append(ewscurl_setopt_write(h, CURLOPT_HEADERFUNCTION, curlWriteHeader))
        results.append(ewscurl_setopt_ptr(h, CURLOPT_HEADERDATA, userdata))
        return results.first { $0 != CURLE_OK } ?? CURLE_OK
    }

    /// The CONNECT tunnel: to the proxy's resolved address, Basic or NTLM only after a 407 asks
    /// for it, and an empty no-proxy list so `NO_PROXY` in the environment cannot bypass it.
    private func configureProxy(_ h: UnsafeMutableRawPointer, _ results: inout [CURLcode]) {
        func set(_ option: CURLoption, _ value: String) { results.append(value.withCString { ewscurl_setopt_ptr(h, option, $0) }) }
        guard let proxy = request.proxy else { return set(CURLOPT_PROXY, "") }
        set(CURLOPT_PROXY, proxy.curlURL)
        set(CURLOPT_NOPROXY, "")
        results.append(ewscurl_setopt_long(h, CURLOPT_HTTPPROXYTUNNEL, 1))
        guard let credentials = proxy.credentials else { return }
        set(CURLOPT_PROXYUSERNAME, credentials.username)
        set(CURLOPT_PROXYPASSWORD, credentials.password.reveal())
        results.append(ewscurl_setopt_long(h, CURLOPT_PROXYAUTH, EWSCURL_PROXYAUTH_BASIC_NTLM))
    }

    // MARK: callbacks (loop thread)

    fileprivate func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let room = request.bodyLimit - body.count
        if bytes.count > room {
            body.append(contentsOf: bytes.prefix(max(0, room)))
            bodyTruncated = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    fileprivate func receiveHeader(_ bytes: UnsafeRawBufferPointer) -> Bool {
        headerBytes += bytes.count
        if headerBytes > ResponseReader.headerByteLimit {
            headersTooLarge = true
            return false
        }
        let line = ResponseHead.stripped(bytes)
        if request.proxy != nil, line.count > 19, ResponseHead.sameName(ResponseHead.trimmed(line[0..<19]), "Proxy-Authenticate:") {
            proxySchemes += AuthChallengeParser.parse(ResponseHead.trimmed(line[19...])).map(\.scheme)
        }
        head.add(line: line)
        return true
    }

    // MARK: completion (loop thread)

    private var facts: (PhaseTimings, ConnectionFacts, TLSFacts)?

    /// Reads what the handle knows while it is still in the multi handle: once removed, the
    /// connection (and its SSL object) is detached from it.
    func captureFacts() {
        guard let h = easy else { return }
        var (timings, connection) = (readTimings(h), readConnection(h))
        if request.proxy != nil {
            // The proxy's answer to CONNECT (0: none came); the tunnel is open once it was 2xx.
            let status = CurlInfo(handle: h).long(CURLINFO_HTTP_CONNECTCODE)
            var outcome = ProxyOutcome(status: status == 0 ? nil : status)
            outcome.offer(proxySchemes)
            if (200..<300).contains(status) { outcome.tunnelSeconds = timings.connect }
            connection.proxy = outcome
        }
        facts = (timings, connection, readTLS(h))
    }

    func finish(code: CURLcode, cancelled: Bool) {
        let result: Result<HTTPResponse, TransportError>
        if facts == nil { captureFacts() }
        let (timings, connection, tls) = facts ?? (PhaseTimings(), ConnectionFacts(), TLSFacts())
        let stoppedForSize = code == CURLE_WRITE_ERROR && bodyTruncated
        if cancelled {
            result = .failure(error(.cancelled, code, "cancelled", timings, connection, tls))
        } else if code == CURLE_OK || stoppedForSize {
            result = .success(
                HTTPResponse(
                    status: head.status, httpVersion: head.httpVersion, headers: head.headers, body: body,
                    bodyTruncated: bodyTruncated, timings: timings, connection: connection, tls: tls))
        } else {
            result = .failure(error(classify(code), code, message(code), timings, connection, tls))
        }
        release()
        let continuation = control.withLock { state in
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(returning: result)
    }

    private func classify(_ code: CURLcode) -> TransportError.Kind {
        switch code {
        case CURLE_OPERATION_TIMEDOUT: return .timeout
        case CURLE_COULDNT_RESOLVE_HOST: return .resolve
        case CURLE_COULDNT_CONNECT:
            switch osErrno {
            case Int(ECONNREFUSED): return .refused
            case Int(ETIMEDOUT): return .timeout
            default: return .unreachable
            }
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
            CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_INVALIDCERTSTATUS:
            return .tls
        case CURLE_WRITE_ERROR where headersTooLarge, CURLE_FILESIZE_EXCEEDED: return .tooLarge
        case CURLE_RECV_ERROR where headersTooLarge: return .tooLarge
        case CURLE_WEIRD_SERVER_REPLY, CURLE_GOT_NOTHING, CURLE_RECV_ERROR, CURLE_SEND_ERROR,
            CURLE_HTTP2, CURLE_PARTIAL_FILE:
            return .protocolError
        default: return .other
        }
    }

    private var osErrno: Int {
        easy.map { CurlInfo(handle: $0).long(CURLINFO_OS_ERRNO) } ?? 0
    }

    private func message(_ code: CURLcode) -> String {
        if headersTooLarge { return "response headers exceed \(ResponseReader.headerByteLimit) bytes" }
        let text = String(cString: errorBuffer)
        return text.isEmpty ? String(cString: curl_easy_strerror(code)) : text
    }

    private func error(
        _ kind: TransportError.Kind, _ code: CURLcode, _ message: String, _ timings: PhaseTimings,
        _ connection: ConnectionFacts, _ tls: TLSFacts
    ) -> TransportError {
        TransportError(
            kind: kind, curlCode: Int(code.rawValue), osErrno: osErrno, message: message, timings: timings,
            connection: connection, tls: tls)
    }

    private func readTimings(_ h: UnsafeMutableRawPointer) -> PhaseTimings {
        let info = CurlInfo(handle: h)
        var t = PhaseTimings()
        for (phase, time) in Self.phases { t[keyPath: phase] = info.seconds(time) }
        return t
    }

    /// Each phase's end as libcurl measures it (seconds since the transfer started).
    /// Key paths are immutable values; the array is never written.
    nonisolated(unsafe) private static let phases: [(WritableKeyPath<PhaseTimings, Double>, CURLINFO)] = [
        (\.nameLookup, CURLINFO_NAMELOOKUP_TIME_T), (\.connect, CURLINFO_CONNECT_TIME_T),
        (\.tlsHandshake, CURLINFO_APPCONNECT_TIME_T), (\.preTransfer, CURLINFO_PRETRANSFER_TIME_T),
        (\.firstByte, CURLINFO_STARTTRANSFER_TIME_T), (\.total, CURLINFO_TOTAL_TIME_T),
    ]

    private func readConnection(_ h: UnsafeMutableRawPointer) -> ConnectionFacts {
        let info = CurlInfo(handle: h)
        var facts = ConnectionFacts()
        facts.peerAddress = info.string(CURLINFO_PRIMARY_IP)
        facts.peerPort = info.long(CURLINFO_PRIMARY_PORT)
        facts.localAddress = info.string(CURLINFO_LOCAL_IP)
        facts.localPort = info.long(CURLINFO_LOCAL_PORT)
        facts.newConnections = info.long(CURLINFO_NUM_CONNECTS)
        return facts
    }

    private func readTLS(_ h: UnsafeMutableRawPointer) -> TLSFacts {
        var facts = TLSFacts()
        guard request.url.lowercased().hasPrefix("https:") else { return facts }
        facts.verifyResult = CurlInfo(handle: h).long(CURLINFO_SSL_VERIFYRESULT)
        facts.version = negotiatedVersion
        facts.cipher = negotiatedCipher
        facts.chain = peerChain.map(Certificate.init)
        facts.stapledOCSP = stapledOCSP
        return facts
    }

    private func release() {
        if handshakeID != 0 { handshakes.forget(handshakeID) }
        if let h = easy {
            if scope?.share != nil { _ = ewscurl_setopt_ptr(h, CURLOPT_SHARE, nil) }
            curl_easy_cleanup(h)
        }
        easy = nil
        curl_slist_free_all(headerList)
        curl_slist_free_all(connectToList)
        headerList = nil
        connectToList = nil
    }
}

private func curlWriteBody(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?) -> Int {
    guard let user else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(user).takeUnretainedValue()
    let length = size * count
    return transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}

private func curlWriteHeader(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?) -> Int {
    guard let user else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(user).takeUnretainedValue()
    let length = size * count
    return transfer.receiveHeader(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}
