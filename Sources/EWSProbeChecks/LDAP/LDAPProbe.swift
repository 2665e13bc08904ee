import CLDAP
import EWSProbeCore
import EWSProbeTransport
import Foundation

/// The `ldap` steps at one address, blocking, on a worker thread: TLS (LDAPS or StartTLS),
/// the RootDSE, then with credentials the bind, the mailbox-check search and the account's
/// own entry. Every step is timed; the first failure ends the sequence.
struct LDAPProbe: Sendable {
    var url: EndpointURL
    var address: String
    var caFile: String?
    var sourceAddress: String?
    var deadline: ContinuousClock.Instant
    var username: String?
    var password: Secret?
    var mailbox: String?
    var base: String?
    var filter: String?
    var contexts = LDAPTLSContexts()

    static let rootAttributes = [
        "vendorName", "vendorVersion", "dnsHostName", "defaultNamingContext", "namingContexts", "supportedExtension",
        "supportedLDAPVersion", "currentTime", "domainFunctionality", "objectClass", "structuralObjectClass",
    ]

    func run() -> LDAPObservation {
        var seen = LDAPObservation()
        guard ContinuousClock.now < deadline else {
            seen.failure = LDAPFailure(stage: .connect, code: -5, text: "the run's time was used up waiting for a directory thread")
            return seen
        }
        let session: LDAPSession
        switch LDAPSession.open(
            url, address: address, caFile: caFile, sourceAddress: sourceAddress, deadline: deadline, contexts: contexts)
        {
        case .success(let opened): session = opened
        case .failure(let failure):
            seen.failure = failure
            return seen
        }
        let root = timed("rootdse", &seen) {
            session.search(.rootDSE, base: "", scope: LDAP_SCOPE_BASE, filter: "(objectClass=*)", attributes: Self.rootAttributes)
        }
        guard case .success(let entries) = root, let rootDSE = entries.first else {
            if case .failure(let failure) = root { seen.failure = failure }
            return seen
        }
        seen.rootDSE = rootDSE
        seen.base = base ?? rootDSE.first("defaultNamingContext") ?? rootDSE.first("namingContexts")
        seen.serverTime = rootDSE.first("currentTime") ?? monitorTime(session)
        guard let username, let password else { return seen }
        let bind = timed("bind", &seen) { session.bind(dn: username, password: password) }
        seen.bind = bind
        guard bind.code == LDAP_SUCCESS, let searchBase = seen.base else { return seen }
        if let mailbox {
            let filter = (filter ?? Self.defaultFilter).replacingOccurrences(of: "ADDR", with: LDAPText.escapeFilterValue(mailbox))
            seen.filter = filter
            seen.mailbox = timed("search", &seen) {
                session.search(.search, base: searchBase, scope: LDAP_SCOPE_SUBTREE, filter: filter, attributes: ["mail", "cn"], limit: 2)
            }
        }
        let activeDirectory = rootDSE.first("domainFunctionality") != nil
        (seen.account, seen.policy) = timed("account", &seen) {
            account(session, base: searchBase, username: username, activeDirectory: activeDirectory)
        }
        return seen
    }

    static let defaultFilter = "(|(mail=ADDR)(proxyAddresses=smtp:ADDR)(userPrincipalName=ADDR))"

    /// The service account's own entry: by UPN in Active Directory (then read by DN, where the
    /// computed attributes live), by DN elsewhere with the ppolicy entry that governs it.
    func account(_ session: LDAPSession, base: String, username: String, activeDirectory: Bool) -> (LDAPEntry?, LDAPEntry?) {
        let adAttributes = [
            "msDS-UserPasswordExpiryTimeComputed", "userAccountControl", "msDS-User-Account-Control-Computed", "pwdLastSet",
            "accountExpires",
        ]
        if activeDirectory {
            var dn = username
            if !username.contains("=") {
                let filter = "(userPrincipalName=\(LDAPText.escapeFilterValue(username)))"
                guard
                    case .success(let found) = session.search(
                        .account, base: base, scope: LDAP_SCOPE_SUBTREE, filter: filter, attributes: ["cn"]),
                    let first = found.first?.dn
                else { return (nil, nil) }
                dn = first
            }
            let entry = try? session.search(
                .account, base: dn, scope: LDAP_SCOPE_BASE, filter: "(objectClass=*)", attributes: adAttributes
            ).get().first
            return (entry, nil)
        }
        let ppolicy = ["pwdChangedTime", "pwdAccountLockedTime", "pwdPolicySubentry", "pwdReset", "pwdGraceUseTime"]
        guard
            let entry = try? session.search(
                .account, base: username, scope: LDAP_SCOPE_BASE, filter: "(objectClass=*)", attributes: ppolicy
            )
            .get().first
        else { return (nil, nil) }
        let policy = entry.first("pwdPolicySubentry").flatMap { dn in
            try? session.search(
                .account, base: dn, scope: LDAP_SCOPE_BASE, filter: "(objectClass=*)", attributes: ["pwdMaxAge", "pwdExpireWarning"]
            ).get().first
        }
        return (entry, policy)
    }

    /// OpenLDAP keeps its clock in the monitor backend, not the RootDSE (absent if not configured).
    func monitorTime(_ session: LDAPSession) -> String? {
        let found = try? session.search(
            .rootDSE, base: "cn=Current,cn=Time,cn=Monitor", scope: LDAP_SCOPE_BASE, filter: "(objectClass=*)",
            attributes: ["monitorTimestamp"]
        ).get()
        return found?.first?.first("monitorTimestamp")
    }

    private func timed<T>(_ operation: String, _ seen: inout LDAPObservation, _ body: () -> T) -> T {
        let start = ContinuousClock.now
        let value = body()
        seen.seconds.append((operation, (ContinuousClock.now - start).seconds))
        return value
    }
}
