/// An LDAP operation that did not succeed: libldap's result code (negative: no answer from
/// the server, such as a TLS or connection failure) with its text and the server's diagnostic.
struct LDAPFailure: Error, Sendable, Equatable {
    enum Stage: String, Sendable {
        case connect, tls, startTLS = "starttls", rootDSE = "rootdse", bind, search, account
    }

    var stage: Stage
    var code: Int32
    var text: String
    var diagnostic: String = ""

    /// libldap's LDAP_DECODING_ERROR: what came back is not LDAP.
    static let decodingError: Int32 = -4

    /// The code of a StartTLS the server answered with a refusal (the text has its result).
    static let refusedByServer: Int32 = -100

    /// The server answered (a result code) rather than libldap giving up.
    var serverAnswered: Bool { code >= 0 || code == Self.refusedByServer }

    var description: String {
        let detail = diagnostic.isEmpty ? "" : ": \(diagnostic)"
        return code >= 0 ? "result \(code) (\(text))\(detail)" : "\(text)\(detail)"
    }
}
