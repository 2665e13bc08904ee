import CAres
import CLDAP
import EWSProbeCore
import EWSProbeTransport
import Foundation

/// One libldap connection to one directory address, used from one worker thread (libldap is
/// blocking). ewsprobe connects the socket itself (the pinned address, the source address, the
/// deadline) and libldap demands a verified certificate for the URL's host against the system
/// roots plus `ca_file` before anything else is sent: no password leaves without it.
final class LDAPSession {
    private let ld: OpaquePointer
    private let deadline: ContinuousClock.Instant
    private let cutoff: SocketCutoff
    private let redactor: SecretRedactor
    /// The notice guard's state (shim.h): libldap's read layer writes it until the handle is
    /// unbound, so the session owns it and frees it only after the unbind.
    private let framing: UnsafeMutablePointer<ewsldap_guard>

    private init(ld: OpaquePointer, deadline: ContinuousClock.Instant, cutoff: SocketCutoff, redactor: SecretRedactor) {
        self.ld = ld
        self.deadline = deadline
        self.cutoff = cutoff
        self.redactor = redactor
        framing = .allocate(capacity: 1)
        framing.initialize(to: ewsldap_guard())
    }

    deinit {
        cutoff.release()
        ldap_unbind_ext_s(ld, nil, nil)
        framing.deinitialize(count: 1)
        framing.deallocate()
    }

    /// Connects to `address`, then LDAPS's handshake or StartTLS and its handshake.
    static func open(
        _ url: EndpointURL, address: String, caFile: String?, sourceAddress: String?, deadline: ContinuousClock.Instant,
        contexts: LDAPTLSContexts, watchdog: Watchdog, redactor: SecretRedactor, verify: Bool = true
    ) -> Result<LDAPSession, LDAPFailure> {
        let remaining = ContinuousClock.now.duration(to: deadline)
        let fd: Int32
        switch BlockingSocket.connect(to: address, port: url.port, sourceAddress: sourceAddress, timeout: remaining) {
        case .success(let socket): fd = socket
        case .failure(let failure):
            return .failure(LDAPFailure(stage: .connect, code: -1, text: failure.timedOut ? "connect timed out" : failure.message))
        }
        let cutoff = SocketCutoff(fd, at: deadline, watchdog: watchdog)
        func abandon(_ failure: LDAPFailure) -> Result<LDAPSession, LDAPFailure> {
            cutoff.release()
            close(fd)
            return .failure(failure)
        }
        if url.startsTLS, let refusal = startTLS(on: fd, deadline: deadline) { return abandon(refusal) }
        var handle: OpaquePointer?
        let uri = "\(url.scheme)://\(IPAddress.bracketed(url.host)):\(url.port)"
        guard ldap_init_fd(fd, EWSLDAP_PROTO_TCP, uri, &handle) == LDAP_SUCCESS, let ld = handle else {
            return abandon(LDAPFailure(stage: .connect, code: -1, text: "libldap could not take the connection"))
        }
        let session = LDAPSession(ld: ld, deadline: deadline, cutoff: cutoff, redactor: redactor)
        session.configure(caFile: caFile, contexts: contexts, verify: verify)
        // After StartTLS (done above, judged by the same code as the `tls` check) or at connect.
        let rc = ldap_install_tls(ld)
        guard rc == LDAP_SUCCESS else {
            // A handshake the server never finished ends at the deadline (the cut-off).
            guard ContinuousClock.now < deadline else {
                return .failure(LDAPFailure(stage: .tls, code: LDAP_TIMEOUT, text: "the TLS handshake did not finish in time"))
            }
            return .failure(session.failure(.tls, rc))
        }
        // Before any answer is read: an unsolicited notification ends the session (see shim.h).
        guard ewsldap_install_guard(ld, session.framing) == 0 else {
            return .failure(LDAPFailure(stage: .tls, code: -1, text: "libldap would not take the notice guard"))
        }
        return .success(session)
    }

    /// StartTLS on the plain socket: the request, then the answer read until it is complete
    /// (bounded by the socket's timeouts and `LDAPStartTLSPreamble`'s size limit). Nil when the
    /// server agreed; else why not, with the not-LDAP and refused cases told apart.
    static func startTLS(on fd: Int32, deadline: ContinuousClock.Instant) -> LDAPFailure? {
        let preamble = LDAPStartTLSPreamble()
        let request = preamble.request
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            return LDAPFailure(stage: .startTLS, code: -1, text: "sending StartTLS failed: \(String(cString: strerror(errno)))")
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            // Each wait bounded by what is left: a server dripping its answer ends at the deadline.
            SocketAddress.setTimeouts(fd, ContinuousClock.now.duration(to: deadline))
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                // Bytes that began like LDAP and then a close or a reset: what was said was not
                // LDAP, whichever way the connection ended.
                if !received.isEmpty {
                    return LDAPFailure(
                        stage: .startTLS, code: LDAPFailure.decodingError,
                        text: "not LDAP: \(received.count) bytes that are no complete LDAP message, then the connection ended")
                }
                let why = n == 0 ? "the server closed the connection" : (errno == EAGAIN ? "timed out" : String(cString: strerror(errno)))
                return LDAPFailure(stage: .startTLS, code: -1, text: "no answer to StartTLS: \(why)")
            }
            received += buffer[0..<n]
            switch preamble.verdict(received) {
            case .needMore: continue
            case .proceed(let consumed) where consumed == received.count: return nil
            case .proceed:
                return LDAPFailure(stage: .startTLS, code: LDAPFailure.decodingError, text: "not LDAP: data after the StartTLS answer")
            case .refused(let reason):
                return LDAPFailure(
                    stage: .startTLS, code: reason.hasPrefix("not LDAP") ? LDAPFailure.decodingError : LDAPFailure.refusedByServer,
                    text: reason)
            case .again:  // StartTLS is one round
                return LDAPFailure(stage: .startTLS, code: LDAPFailure.decodingError, text: "not LDAP: an unexpected StartTLS round")
            }
        }
        return LDAPFailure(stage: .startTLS, code: -5, text: "no answer to StartTLS: timed out")
    }

    /// `verify: false` only for a read that sends nothing secret (the RootDSE of a server whose
    /// certificate failed): any certificate is taken.
    private func configure(caFile: String?, contexts: LDAPTLSContexts, verify: Bool) {
        _ = ewsldap_set_int(ld, LDAP_OPT_PROTOCOL_VERSION, LDAP_VERSION3)
        _ = ewsldap_referrals_off(ld)
        ewsldap_max_incoming(ld, 1 << 20)
        // Each operation's wait. No network timeout: with one, libldap 2.5 spins a core retrying
        // a handshake a silent server never answers; the socket's timeouts and the cut-off at
        // the deadline bound the handshake instead.
        _ = ewsldap_set_timeout(ld, LDAP_OPT_TIMEOUT, timeout)
        guard verify else {
            _ = ewsldap_set_int(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, LDAP_OPT_X_TLS_NEVER)
            _ = ewsldap_set_int(ld, LDAP_OPT_X_TLS_NEWCTX, 0)
            return
        }
        // The trust of the `tls` check: the system roots, plus ca_file; a certificate that does
        // not verify for the URL's host ends the session before any request.
        _ = ewsldap_set_int(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, LDAP_OPT_X_TLS_DEMAND)
        if let shared = contexts.context(for: caFile) {
            _ = ewsldap_use_tls_context(ld, shared)
            return
        }
        _ = ewsldap_set_string(ld, LDAP_OPT_X_TLS_CACERTDIR, "/etc/ssl/certs")
        _ = ewsldap_set_string(ld, LDAP_OPT_X_TLS_CACERTFILE, caFile ?? "/etc/ssl/certs/ca-certificates.crt")
        _ = ewsldap_set_int(ld, LDAP_OPT_X_TLS_NEWCTX, 0)
        contexts.remember(ld, for: caFile)
    }

    /// The failure of an operation that returned `rc`, with the server's diagnostic message.
    private func failure(_ stage: LDAPFailure.Stage, _ rc: Int32) -> LDAPFailure {
        if framing.pointee.foreign != 0 {
            // libldap calls this a lost connection; the bytes said more: not LDAP at all.
            return LDAPFailure(stage: stage, code: LDAPFailure.decodingError, text: "the answer inside TLS is not LDAP: \(foreignStart)")
        }
        let text = ewsldap_diagnostic(ld)
        defer { ldap_memfree(text) }
        let diagnostic = text.map { kept(String(cString: $0)) } ?? ""
        return LDAPFailure(stage: stage, code: rc, text: String(cString: ldap_err2string(rc)), diagnostic: diagnostic)
    }

    /// The first bytes of a non-LDAP answer as text (a status line, a banner), or in hex.
    private var foreignStart: String {
        let bytes = withUnsafeBytes(of: framing.pointee.first) { Array($0.prefix(Int(framing.pointee.firstLength))) }
        let printable = bytes.allSatisfy { (0x20..<0x7F).contains($0) || $0 == 0x0D || $0 == 0x0A }
        let text = printable ? String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? "" : ""
        return kept(printable ? "\"\(text)\"" : bytes.map { String(format: "%02x", $0) }.joined(separator: " "))
    }

    /// What is left of the run, as each libldap call takes its limit.
    private var timeout: timeval { ContinuousClock.now.duration(to: deadline).timeval }

    /// Entries under `base` matching `filter`, with `attributes`: at most `limit` entries, read
    /// one message at a time, so a server that ignores the size limit and streams entries (or
    /// references) is abandoned at the limit instead of filling memory until the deadline. A
    /// size limit reached still returns what came.
    func search(
        _ stage: LDAPFailure.Stage, base: String, scope: Int32, filter: String, attributes: [String], limit: Int32 = 10
    ) -> Result<[LDAPEntry], LDAPFailure> {
        var names = attributes.map { strdup($0) } + [nil]
        defer { for name in names { free(name) } }
        var tv = timeout
        var messageID: Int32 = 0
        let sent = ldap_search_ext(ld, base, scope, filter, &names, 0, nil, nil, &tv, limit, &messageID)
        guard sent == LDAP_SUCCESS else { return .failure(failure(stage, sent)) }
        var entries: [LDAPEntry] = []
        var references = 0
        while true {
            var wait = timeout
            var message: OpaquePointer?
            let type = ldap_result(ld, messageID, LDAP_MSG_ONE, &wait, &message)
            defer { if let message { ldap_msgfree(message) } }
            guard type > 0, let message else { return .failure(failure(stage, type == 0 ? LDAP_TIMEOUT : ewsldap_last_error(ld))) }
            switch type {
            case Self.searchEntry where entries.count < Int(limit):
                if let entry = ldap_first_entry(ld, message) { entries.append(read(entry)) }
                continue
            case Self.searchReference where references < Self.referencesKept:
                references += 1
                continue
            case Self.searchEntry, Self.searchReference:
                // More than was asked for: what came is the answer.
                _ = ldap_abandon_ext(ld, messageID, nil, nil)
                return .success(entries)
            case Self.searchResult:
                var code: Int32 = 0
                let parsed = ldap_parse_result(ld, message, &code, nil, nil, nil, nil, 0)
                guard parsed == LDAP_SUCCESS else { return .failure(failure(stage, parsed)) }
                guard code == LDAP_SUCCESS || code == LDAP_SIZELIMIT_EXCEEDED else { return .failure(failure(stage, code)) }
                return .success(entries)
            default:
                // A notice of disconnection, or an answer of the wrong kind.
                return .failure(LDAPFailure(stage: stage, code: LDAP_SERVER_DOWN, text: "the server ended the session"))
            }
        }
    }

    /// The entry at `dn` itself (a base search).
    func entry(_ stage: LDAPFailure.Stage, dn: String, attributes: [String]) -> Result<[LDAPEntry], LDAPFailure> {
        search(stage, base: dn, scope: LDAP_SCOPE_BASE, filter: "(objectClass=*)", attributes: attributes, limit: 1)
    }

    static let searchEntry: Int32 = 0x64
    static let searchReference: Int32 = 0x73
    static let searchResult: Int32 = 0x65
    /// Continuation references followed by nothing: counted, never followed.
    static let referencesKept = 64

    /// What a server says is kept short where it is read: summaries, traces and details repeat
    /// it, and a lying server may send up to libldap's 1 MiB in one value.
    static let textKept = 512
    static let valuesKept = 64

    /// What the server said, its password forms redacted before it is cut: a password echoed
    /// across the cut would otherwise keep its first characters.
    private func kept(_ text: String) -> String { Self.bounded(redactor.redact(text)) }

    static func bounded(_ text: String) -> String {
        text.utf8.count <= textKept ? text : String(decoding: text.utf8.prefix(textKept), as: UTF8.self) + "…"
    }

    private func read(_ entry: OpaquePointer) -> LDAPEntry {
        let dn = ldap_get_dn(ld, entry)
        defer { ldap_memfree(dn) }
        // The DN stays whole: it is the base of the account's read.
        var result = LDAPEntry(dn: dn.map { String(cString: $0) } ?? "", attributes: [:])
        var ber: OpaquePointer?
        var name = ldap_first_attribute(ld, entry, &ber)
        while let attribute = name {
            let key = kept(String(cString: attribute)).lowercased()
            if let values = ldap_get_values_len(ld, entry, attribute) {
                var index = 0
                while let value = values[index], index < Self.valuesKept {
                    let bytes = UnsafeRawBufferPointer(start: value.pointee.bv_val, count: Int(value.pointee.bv_len))
                    result.attributes[key, default: []].append(kept(String(decoding: bytes, as: UTF8.self)))
                    index += 1
                }
                ldap_value_free_len(values)
            }
            ldap_memfree(attribute)
            name = ldap_next_attribute(ld, entry, ber)
        }
        if let ber { ber_free(ber, 0) }
        return result
    }

    /// A simple bind with the password policy request control; the answer's result code, the
    /// server's diagnostic (Active Directory's data code lives there) and the ppolicy response.
    func bind(dn: String, password: Secret) -> LDAPBindResult {
        var request: UnsafeMutablePointer<LDAPControl>?
        _ = ldap_create_passwordpolicy_control(ld, &request)
        defer { if let request { ldap_control_free(request) } }
        var controls: [UnsafeMutablePointer<LDAPControl>?] = [request, nil]
        var secret = Array(password.reveal().utf8)
        defer { for index in secret.indices { secret[index] = 0 } }
        var messageID: Int32 = 0
        let sent = secret.withUnsafeMutableBufferPointer { bytes -> Int32 in
            var credential = berval(
                bv_len: ber_len_t(bytes.count), bv_val: UnsafeMutableRawPointer(bytes.baseAddress)?.assumingMemoryBound(to: CChar.self))
            return ldap_sasl_bind(ld, dn, nil, &credential, &controls, nil, &messageID)
        }
        guard sent == LDAP_SUCCESS else { return LDAPBindResult(failure: failure(.bind, sent)) }
        var tv = timeout
        var answer: OpaquePointer?
        let got = ldap_result(ld, messageID, LDAP_MSG_ALL, &tv, &answer)
        guard got > 0, let answer else {
            return LDAPBindResult(failure: failure(.bind, got == 0 ? LDAP_TIMEOUT : ewsldap_last_error(ld)))
        }
        var code: Int32 = 0
        var diagnostic: UnsafeMutablePointer<CChar>?
        var responses: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?
        let parsed = ldap_parse_result(ld, answer, &code, nil, &diagnostic, nil, &responses, 1)
        defer {
            ldap_memfree(diagnostic)
            if let responses { ldap_controls_free(responses) }
        }
        guard parsed == LDAP_SUCCESS else { return LDAPBindResult(failure: failure(.bind, parsed)) }
        var result = LDAPBindResult(code: code, diagnostic: diagnostic.map { kept(String(cString: $0)) } ?? "")
        if let control = ldap_control_find("1.3.6.1.4.1.42.2.27.8.5.1", responses, nil) {
            var expire: ber_int_t = -1
            var grace: ber_int_t = -1
            var error = PP_noError
            if ldap_parse_passwordpolicy_control(ld, control, &expire, &grace, &error) == LDAP_SUCCESS {
                result.policyError = error == PP_noError ? nil : Int(error.rawValue)
                result.secondsUntilExpiry = expire >= 0 ? Int(expire) : nil
                result.graceLogins = grace >= 0 ? Int(grace) : nil
            }
        }
        return result
    }
}
