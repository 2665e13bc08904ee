// libFuzzer entry points for ewsprobe's parsers of untrusted input. scripts/fuzz.sh compiles
// this file with the parser sources and one of the FUZZ_* flags under -sanitize=fuzzer,address.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    #if FUZZ_NTLM
        if let challenge = try? NTLMChallenge.decode(bytes) {
            // A decoded challenge must be usable: answering it must not trap either.
            let client = NTLMv2Client(user: "u", domain: "d", password: Secret("p"))
            _ = client.authenticate(negotiate: NTLMNegotiate().encoded, challenge: challenge, clientChallenge: [1, 2, 3, 4, 5, 6, 7, 8])
            _ = challenge.targetInfo.string(.dnsComputerName)
        }
        _ = try? NTLMNegotiate.decode(bytes)
    #elseif FUZZ_AUTH
        let text = String(decoding: bytes, as: UTF8.self)
        for challenge in AuthChallengeParser.parse(text) { _ = challenge.parameter("realm") }
    #elseif FUZZ_SOAP
        let answer = EWSResponseParser.parse(String(decoding: bytes, as: UTF8.self))
        _ = answer.errorCode
        _ = answer.versionText
    #elseif FUZZ_FORMS
        // First byte picks the status, the rest splits into location | cookie | body.
        let status = [200, 302, 401, 403, 440][Int(bytes.first ?? 0) % 5]
        let parts = String(decoding: bytes.dropFirst(), as: UTF8.self).split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
        let hop = FormsHop(
            url: "https://mail.example.com/EWS/Exchange.asmx", status: status, location: parts.first.map(String.init),
            cookieNames: parts.count > 1 ? [String(parts[1])] : [], contentType: "text/html", body: parts.count > 2 ? String(parts[2]) : "")
        _ = FormsLoginClassifier.classify(hop)
        _ = FormsLoginClassifier.isExchangeErrorPage(hop.location)
    #elseif FUZZ_HTTP
        // First byte picks the piece size the bytes arrive in, the rest is what the server sent.
        let step = Int(bytes.first ?? 1) % 64 + 1
        var reader = ResponseReader(headerLimit: 4096, bodyLimit: 1024, bodyExpected: step % 7 != 0)
        var offset = 1
        var done = false
        while offset < bytes.count, !done {
            let end = min(bytes.count, offset + step)
            guard let finished = try? bytes[offset..<end].withUnsafeBytes({ try reader.consume($0) }) else { return 0 }
            done = finished
            offset = end
        }
        if !done { try? reader.endOfStream() }
        precondition(reader.body.count <= 1024, "body past its limit")
        _ = reader.head.values("content-type")
        // A proxy's answer to CONNECT is the same kind of untrusted head.
        if case .proceed(let consumed) = HTTPConnectPreamble(host: "h", port: 1).verdict(Array(bytes.dropFirst())) {
            precondition(consumed <= bytes.count - 1, "consumed past the answer")
        }
        // The proxy tunnel's rounds: answers separated by NUL bytes, fed while it asks for more.
        let credentials = ProxyCredentials(username: "D\\u", password: Secret("p"))
        var tunnel = ProxyTunnel(host: "h", port: 443, credentials: step % 3 == 0 ? nil : credentials)
        var rounds = 0
        for answer in bytes.dropFirst().split(separator: 0, omittingEmptySubsequences: false) {
            guard case .again = tunnel.verdict(Array(answer)) else { break }
            rounds += 1
            precondition(rounds < ProxyTunnel.roundLimit, "the tunnel went round past its limit")
        }
    #elseif FUZZ_LDAP
        // A directory's answer to StartTLS, whole and in every prefix (how it arrives).
        let preamble = LDAPStartTLSPreamble()
        for end in stride(from: 0, through: bytes.count, by: max(1, bytes.count / 16)) {
            if case .proceed(let consumed) = preamble.verdict(Array(bytes[..<end])) {
                precondition(consumed <= end, "consumed past the answer")
            }
        }
        if let element = try? BERElement.read(bytes) {
            precondition(element.end <= bytes.count, "element past the bytes")
            _ = try? element.children(of: bytes).map { $0.integer(of: bytes) }
        }
    #endif
    return 0
}
