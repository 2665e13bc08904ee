/// Everything one `ldap` run saw at one address, in order; the sequence stops at `failure`.
struct LDAPObservation: Sendable {
    /// The address the session went to, and those before it that took no connection.
    var address: String?
    var unreachable: [(String, String)] = []
    var rootDSE: LDAPEntry?
    /// Why an anonymous client saw no RootDSE (refused, or an empty answer); with credentials
    /// it is read again after the bind.
    var rootDSEHidden: String?
    var bind: LDAPBindResult?
    /// The entries the mailbox-check search found, or why it failed.
    var mailbox: Result<[LDAPEntry], LDAPFailure>?
    /// The service account's own entry (Active Directory's computed attributes or ppolicy's).
    var account: LDAPEntry?
    /// The ppolicy entry that governs the account, when it names one and may read it.
    var policy: LDAPEntry?
    /// The server's clock (RootDSE `currentTime`, or OpenLDAP's monitor), GeneralizedTime.
    var serverTime: String?
    /// Where the sequence stopped.
    var failure: LDAPFailure?
    /// Seconds per operation: rootdse, bind, search, account.
    var seconds: [(String, Double)] = []
    var base: String?
    var filter: String?
}
