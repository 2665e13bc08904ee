/// A bind's answer: the result code and diagnostic, and what the password policy control said.
struct LDAPBindResult: Sendable, Equatable {
    /// The server's result code (0: bound), or libldap's negative code when no answer came.
    var code: Int32
    var diagnostic: String
    /// The ppolicy response's error (0 passwordExpired, 1 accountLocked, 2 changeAfterReset, …).
    var policyError: Int?
    /// The ppolicy warning: seconds until the password expires.
    var secondsUntilExpiry: Int?
    var graceLogins: Int?
    /// What libldap said when the bind got no answer.
    var failure: LDAPFailure?

    init(code: Int32, diagnostic: String) {
        self.code = code
        self.diagnostic = diagnostic
    }

    init(failure: LDAPFailure) {
        code = failure.code
        diagnostic = failure.diagnostic
        self.failure = failure
    }
}
