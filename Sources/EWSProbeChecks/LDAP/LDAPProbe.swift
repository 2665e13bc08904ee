import CLDAP
import EWSProbeCore
import EWSProbeTransport
import Foundation

/// The `ldap` steps at the first address that accepts a connection (as a directory client
/// fails over between a domain's controllers), blocking, on a worker thread: TLS (LDAPS or StartTLS),
/// the RootDSE, then with credentials the bind, the mailbox-check search and the account's
/// own entry. Every step is timed; the first failure ends the sequence.
struct LDAPProbe: Sendable {
    var url: EndpointURL
    /// In the order `dns` found them; the next is tried only when a connection is refused or
    /// times out, never after the server answered.
    var addresses: [String]
    var caFile: String?
    var sourceAddress: String?
    var deadline: ContinuousClock.Instant
    var username: String?
    var password: Secret?
    var mailbox: String?
    var base: String?
    var filter: String?
    var contexts = LDAPTLSContexts()
    /// Cuts the socket at the deadline (see `SocketCutoff`).
    var watchdog: Watchdog

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
        let redactor = password.map { SecretRedactor(password: $0, username: username) } ?? .none
        var opened: LDAPSession?
        for address in addresses where ContinuousClock.now < deadline {
            seen.address = address
            switch LDAPSession.open(
                url, address: address, caFile: caFile, sourceAddress: sourceAddress, deadline: deadline, contexts: contexts,
                watchdog: watchdog, redactor: redactor)
            {
            case .success(let session): opened = session
            case .failure(let failure) where failure.stage == .connect && address != addresses.last:
                seen.unreachable.append((address, failure.description))
                continue
            case .failure(let failure): seen.failure = failure
            }
            break
        }
        guard let session = opened else {
            if seen.failure == nil {
                seen.failure = LDAPFailure(stage: .connect, code: -5, text: "the run's time was used up before a connection")
            }
            return seen
        }
        let anonymous = timed("rootdse", &seen) { readRootDSE(session) }
        switch anonymous {
        case .success(let entries) where !entries.isEmpty: seen.rootDSE = entries[0]
        case .success: seen.rootDSEHidden = "shows no RootDSE entry to an anonymous client"
        // A directory that refuses anonymous reads (OpenLDAP `require authc`, an ACL) may still
        // bind the service account; result 8 is the contract's own reason, and a busy or
        // unavailable server is no refusal.
        case .failure(let failure) where Self.refusals.contains(failure.code):
            seen.rootDSEHidden = "refused the anonymous RootDSE read (\(failure.description))"
        case .failure(let failure):
            seen.failure = failure
            return seen
        }
        guard let username, let password else {
            settle(&seen, session)
            return seen
        }
        let bind = timed("bind", &seen) { session.bind(dn: username, password: password) }
        seen.bind = bind
        guard bind.code == LDAP_SUCCESS else {
            settle(&seen, session)
            return seen
        }
        if seen.rootDSE == nil, case .success(let entries) = timed("rootdse", &seen, { readRootDSE(session) }) {
            seen.rootDSE = entries.first
        }
        settle(&seen, session)
        let searchBase = seen.base
        if let mailbox {
            let filter = (filter ?? Self.defaultFilter).replacingOccurrences(of: "ADDR", with: LDAPText.escapeFilterValue(mailbox))
            seen.filter = filter
            seen.mailbox = timed("search", &seen) {
                guard let searchBase else { return .failure(Self.noBase) }
                return session.search(
                    .search, base: searchBase, scope: LDAP_SCOPE_SUBTREE, filter: filter, attributes: ["mail", "cn"], limit: 2)
            }
        }
        let activeDirectory = seen.rootDSE?.first("domainFunctionality") != nil
        (seen.account, seen.policy) = timed("account", &seen) {
            account(session, base: searchBase, username: username, activeDirectory: activeDirectory)
        }
        return seen
    }

    /// The answers of a directory that does not show its RootDSE to an anonymous client:
    /// operationsError (Active Directory's "a successful bind must be completed"),
    /// confidentialityRequired, noSuchObject, inappropriateAuthentication,
    /// insufficientAccessRights, unwillingToPerform.
    static let refusals: Set<Int32> = [1, 13, 32, 48, 50, 53]

    /// The name the directory gives itself (RootDSE `dnsHostName`) when its certificate did not
    /// verify: read anonymously, without trusting the certificate, with no password anywhere, so
    /// `tls` can set it beside the name the certificate carries (the seed's FQDN rule).
    static func dnsHostNameWithoutTrust(
        _ url: EndpointURL, address: String, sourceAddress: String?, deadline: ContinuousClock.Instant, watchdog: Watchdog
    ) -> String? {
        guard ContinuousClock.now < deadline,
            case .success(let session) = LDAPSession.open(
                url, address: address, caFile: nil, sourceAddress: sourceAddress, deadline: deadline, contexts: LDAPTLSContexts(),
                watchdog: watchdog, redactor: .none, verify: false),
            case .success(let entries) = session.entry(.rootDSE, dn: "", attributes: ["dnsHostName"])
        else { return nil }
        return entries.first?.first("dnsHostName")
    }

    static let noBase = LDAPFailure(
        stage: .search, code: -6, text: "no search base: the RootDSE names no naming context and ldap.base is not set")

    func readRootDSE(_ session: LDAPSession) -> Result<[LDAPEntry], LDAPFailure> {
        session.entry(.rootDSE, dn: "", attributes: Self.rootAttributes)
    }

    /// The search base and the server's clock, from what the RootDSE showed.
    func settle(_ seen: inout LDAPObservation, _ session: LDAPSession) {
        seen.base = base ?? seen.rootDSE?.first("defaultNamingContext") ?? seen.rootDSE?.first("namingContexts")
        seen.serverTime = seen.rootDSE?.first("currentTime") ?? monitorTime(session)
    }

    static let defaultFilter = "(|(mail=ADDR)(proxyAddresses=smtp:ADDR)(userPrincipalName=ADDR))"

    /// The service account's own entry: by UPN in Active Directory (then read by DN, where the
    /// computed attributes live), by DN elsewhere with the ppolicy entry that governs it.
    func account(_ session: LDAPSession, base: String?, username: String, activeDirectory: Bool) -> (LDAPEntry?, LDAPEntry?) {
        let adAttributes = [
            "msDS-UserPasswordExpiryTimeComputed", "userAccountControl", "msDS-User-Account-Control-Computed", "pwdLastSet",
            "accountExpires",
        ]
        if activeDirectory {
            var dn = username
            if !username.contains("=") {
                guard let base else { return (nil, nil) }
                let filter = "(userPrincipalName=\(LDAPText.escapeFilterValue(username)))"
                guard
                    case .success(let found) = session.search(
                        .account, base: base, scope: LDAP_SCOPE_SUBTREE, filter: filter, attributes: ["cn"]),
                    let first = found.first?.dn
                else { return (nil, nil) }
                dn = first
            }
            let entry = try? session.entry(.account, dn: dn, attributes: adAttributes).get().first
            return (entry, nil)
        }
        let ppolicy = ["pwdChangedTime", "pwdAccountLockedTime", "pwdPolicySubentry", "pwdReset", "pwdGraceUseTime"]
        guard
            let entry = try? session.entry(.account, dn: username, attributes: ppolicy).get().first
        else { return (nil, nil) }
        let policy = entry.first("pwdPolicySubentry").flatMap { dn in
            try? session.entry(.account, dn: dn, attributes: ["pwdMaxAge", "pwdExpireWarning"]).get().first
        }
        return (entry, policy)
    }

    /// OpenLDAP keeps its clock in the monitor backend, not the RootDSE (absent if not configured).
    func monitorTime(_ session: LDAPSession) -> String? {
        let found = try? session.entry(.rootDSE, dn: "cn=Current,cn=Time,cn=Monitor", attributes: ["monitorTimestamp"]).get()
        return found?.first?.first("monitorTimestamp")
    }

    /// Runs `body` and adds its time to `operation`'s (a RootDSE read again after the bind
    /// counts as the same operation).
    private func timed<T>(_ operation: String, _ seen: inout LDAPObservation, _ body: () -> T) -> T {
        let start = ContinuousClock.now
        let value = body()
        let seconds = (ContinuousClock.now - start).seconds
        if let index = seen.seconds.firstIndex(where: { $0.0 == operation }) {
            seen.seconds[index].1 += seconds
        } else {
            seen.seconds.append((operation, seconds))
        }
        return value
    }
}
