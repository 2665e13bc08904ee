/// LDAP's StartTLS (RFC 4511 §4.14): the ExtendedRequest with OID 1.3.6.1.4.1.1466.20037, then
/// the handshake only after a success ExtendedResponse. Anything else (a refusal, a notice of
/// disconnection, bytes that are not LDAP) stops the stream before TLS.
public struct LDAPStartTLSPreamble: StreamPreamble {
    public static let oid = "1.3.6.1.4.1.1466.20037"

    public init() {}

    /// LDAPMessage { messageID 1, [APPLICATION 23] ExtendedRequest { [0] requestName } }.
    public var request: [UInt8] {
        let name = Array(Self.oid.utf8)
        let extended = [0x77, UInt8(name.count + 2), 0x80, UInt8(name.count)] + name
        return [0x30, UInt8(extended.count + 3), 0x02, 0x01, 0x01] + extended
    }

    public func verdict(_ received: [UInt8]) -> PreambleVerdict {
        do throws(BERElement.Failure) {
            let message = try BERElement.read(received)
            guard message.tag == 0x30 else { return .refused("not LDAP: the answer does not start with an LDAPMessage") }
            let parts = try message.children(of: received)
            guard parts.count >= 2, parts[0].tag == 0x02, let id = parts[0].integer(of: received) else {
                return .refused("not LDAP: no message ID")
            }
            // [APPLICATION 24] ExtendedResponse { resultCode, matchedDN, diagnosticMessage, ... }
            guard parts[1].tag == 0x78 else { return .refused("not LDAP: answer of type 0x\(String(parts[1].tag, radix: 16))") }
            let fields = try parts[1].children(of: received)
            guard fields.count >= 3, fields[0].tag == 0x0A, let code = fields[0].integer(of: received) else {
                return .refused("not LDAP: no result code")
            }
            let text = fields[2].text(of: received)
            if id == 0 {
                return .refused("the server disconnected (notice of disconnection, result \(code)\(text.isEmpty ? "" : ": \(text)"))")
            }
            guard id == 1 else { return .refused("not LDAP: an answer to message \(id)") }
            guard code == 0 else { return .refused("StartTLS refused: result \(code)\(text.isEmpty ? "" : " (\(text))")") }
            return .proceed(consumed: message.end)
        } catch .incomplete {
            return .needMore
        } catch {
            return .refused("not LDAP: \(error)")
        }
    }
}
