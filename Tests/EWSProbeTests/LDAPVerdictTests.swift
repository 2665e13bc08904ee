import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore

/// The `ldap` verdict on fixed observations and a fixed clock (2030-06-01T00:00:00Z): each
/// reason from what a directory said, without a directory. The same reasons are produced
/// against slapd and Samba in LDAPCheckTests and LDAPActiveDirectoryTests.
struct LDAPVerdictTests {
    static let now = 1_906_502_400.0
    static let day = 86_400.0

    static func bound(_ code: Int32 = 0, diagnostic: String = "", edit: (inout LDAPBindResult) -> Void = { _ in }) -> LDAPObservation {
        var bind = LDAPBindResult(code: code, diagnostic: diagnostic)
        edit(&bind)
        var seen = LDAPObservation()
        seen.rootDSE = LDAPEntry(dn: "", attributes: ["namingcontexts": ["dc=example,dc=com"]])
        seen.base = "dc=example,dc=com"
        seen.bind = bind
        return seen
    }

    /// GeneralizedTime (`YYYYMMDDhhmmssZ`), as directories write it.
    static func generalized(_ seconds: Double) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d%02d%02d%02d%02d%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min,
            parts.tm_sec)
    }

    static func verdict(_ seen: LDAPObservation, settings: LDAPCheck = LDAPCheck()) -> LDAPVerdict {
        LDAPVerdict(seen, settings: settings, now: now)
    }

    /// Active Directory's `AcceptSecurityContext error, data NNN` codes.
    @Test(arguments: [
        ("775", "account_locked_out"), ("533", "account_disabled"), ("532", "password_expired"), ("773", "password_must_change"),
        ("701", "account_expired"), ("52e", "bind_rejected"), ("530", "bind_rejected"),
    ])
    func activeDirectoryDataCodes(code: String, reason: String) {
        let diagnostic = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data \(code), v4563"
        let verdict = Self.verdict(Self.bound(49, diagnostic: diagnostic))
        #expect(verdict.status == .fail)
        #expect(verdict.worst?.reason == reason)
    }

    @Test func passwordPolicyErrors() {
        let cases: [(Int32, Int?, Int?, String?)] = [
            (49, 0, nil, "password_expired"), (49, 1, nil, "account_locked_out"), (0, 2, nil, "password_must_change"),
            // Bound on a grace login: expired all the same.
            (0, nil, 3, "password_expired"),
            (49, nil, nil, "bind_rejected"), (8, nil, nil, "strong_auth_required"), (13, nil, nil, "strong_auth_required"),
            (53, nil, nil, "bind_rejected"), (50, nil, nil, "bind_rejected"),
            // The directory did not judge the credentials: busy, unavailable, a referral.
            (51, nil, nil, "request_failed"), (52, nil, nil, "request_failed"), (10, nil, nil, "request_failed"),
        ]
        for (code, policyError, grace, reason) in cases {
            let verdict = Self.verdict(
                Self.bound(code) {
                    $0.policyError = policyError
                    $0.graceLogins = grace
                })
            #expect(verdict.worst?.reason == reason, "\(code) \(String(describing: policyError)) \(String(describing: grace))")
        }
    }

    /// Expiry from the bind's warning: fail below fail_days, warn below warn_days, else the
    /// seed's non-expiring rule (off with require_non_expiring_password: false).
    @Test func expiryThresholds() {
        var relaxed = LDAPCheck()
        relaxed.requireNonExpiringPassword = false
        let cases: [(Double, LDAPCheck, CheckStatus, String?)] = [
            (-2, LDAPCheck(), .fail, "password_expired"), (3, LDAPCheck(), .fail, "password_expiring"),
            (14, LDAPCheck(), .warn, "password_expiring"), (60, LDAPCheck(), .warn, "password_expiry_set"), (60, relaxed, .pass, nil),
        ]
        for (days, settings, status, reason) in cases {
            var seen = Self.bound()
            seen.policy = LDAPEntry(dn: "cn=default", attributes: ["pwdmaxage": ["\(Int(90 * Self.day))"]])
            seen.account = LDAPEntry(
                dn: "uid=svc", attributes: ["pwdchangedtime": [Self.generalized(Self.now + (days - 90) * Self.day)]])
            let verdict = Self.verdict(seen, settings: settings)
            #expect(verdict.status == status && verdict.worst?.reason == reason, "\(days) days")
            #expect(abs((verdict.passwordExpiry ?? 0) - (Self.now + days * Self.day)) < 1)
        }
    }

    @Test func activeDirectoryComputedExpiry() {
        var seen = Self.bound()
        // 2030-06-11 as a FILETIME: ten days left.
        let fileTime = Int64((Self.now + 10 * Self.day + 11_644_473_600) * 10_000_000)
        seen.account = LDAPEntry(
            dn: "CN=svc", attributes: ["msds-userpasswordexpirytimecomputed": ["\(fileTime)"], "useraccountcontrol": ["512"]])
        #expect(Self.verdict(seen).worst?.reason == "password_expiring")
        #expect(Self.verdict(seen).status == .warn)
        // DONT_EXPIRE_PASSWORD (0x10000): never, whatever the computed value says.
        seen.account?.attributes["useraccountcontrol"] = ["66048"]
        #expect(Self.verdict(seen).status == .pass)
        #expect(Self.verdict(seen).expiryKnown && Self.verdict(seen).passwordExpiry == nil)
        seen.account?.attributes = ["msds-userpasswordexpirytimecomputed": ["9223372036854775807"]]
        #expect(Self.verdict(seen).status == .pass && Self.verdict(seen).expiryKnown)
        // 0 (pwdLastSet 0), negative or not a number: no date, and not "never" either.
        for value in ["0", "-5", "soon"] {
            seen.account?.attributes = ["msds-userpasswordexpirytimecomputed": [value]]
            #expect(!Self.verdict(seen).expiryKnown && Self.verdict(seen).passwordExpiry == nil, "\(value)")
        }
    }

    /// A policy whose maximum age no clock can hold (or not a number) is no policy: no trap,
    /// no date, no "never".
    @Test func impossiblePolicyAges() {
        for age in ["99999999999999999999", "inf", "nan", "1e300", "-1"] {
            var seen = Self.bound()
            seen.policy = LDAPEntry(dn: "cn=default", attributes: ["pwdmaxage": [age]])
            seen.account = LDAPEntry(dn: "uid=svc", attributes: ["pwdchangedtime": [Self.generalized(Self.now)]])
            let verdict = Self.verdict(seen)
            #expect(verdict.passwordExpiry == nil && !verdict.expiryKnown, "\(age)")
        }
        #expect(Timestamp.text(.infinity) == "1970-01-01T00:00:00Z")
        #expect(Timestamp.text(1e20) == "9999-12-31T23:59:59Z")
    }

    @Test func mailboxSearchOutcomes() {
        var seen = Self.bound()
        seen.mailbox = .success([])
        #expect(Self.verdict(seen).worst?.reason == "entry_not_found")
        seen.mailbox = .failure(LDAPFailure(stage: .search, code: 32, text: "No such object"))
        #expect(Self.verdict(seen).worst?.reason == "search_failed")
        seen.mailbox = .failure(LDAPProbe.noBase)
        let noBase = Self.verdict(seen)
        #expect(noBase.worst?.reason == "search_failed" && noBase.worst?.message.contains("ldap.base") == true)
        seen.mailbox = .success([LDAPEntry(dn: "uid=user", attributes: [:])])
        #expect(Self.verdict(seen).status == .pass)  // found, and an expiry the directory did not tell
    }

    @Test func clockSkewBeyondKerberosLimit() {
        var seen = Self.bound()
        seen.serverTime = Self.generalized(Self.now + 301)
        #expect(Self.verdict(seen).worst?.reason == "clock_skew")
        seen.serverTime = Self.generalized(Self.now - 299)
        #expect(Self.verdict(seen).findings.isEmpty)
        #expect(abs((Self.verdict(seen).clockSkewSeconds ?? 0) + 299) < 1)
    }

    @Test(arguments: [
        ("20300601000000Z", 1_906_502_400.0), ("20300601000000.0Z", 1_906_502_400.0), ("20300601000000.5Z", 1_906_502_400.5),
        ("20300601020000+0200", 1_906_502_400.0), ("20300531220000-02", 1_906_502_400.0), ("20300601000000,25Z", 1_906_502_400.25),
    ])
    func generalizedTimes(text: String, seconds: Double) {
        #expect(LDAPText.generalizedTime(text) == seconds)
    }

    @Test func notGeneralizedTimes() {
        for text in [
            "", "2030060100Z", "20300601000000", "20300601000000+2", "20300601000000Zjunk", "20300601000000+9900", "2030O601000000Z",
        ] {
            #expect(LDAPText.generalizedTime(text) == nil, "\(text)")
        }
    }

    @Test func whereTheSequenceStopped() {
        let cases: [(LDAPFailure, String)] = [
            (LDAPFailure(stage: .connect, code: -1, text: "Connection refused"), "request_failed"),
            (LDAPFailure(stage: .tls, code: -11, text: "Connect error"), "tls_untrusted"),
            (LDAPFailure(stage: .startTLS, code: LDAPFailure.refusedByServer, text: "StartTLS refused: result 2"), "starttls_refused"),
            (LDAPFailure(stage: .startTLS, code: -4, text: "not LDAP"), "not_ldap"),
            (LDAPFailure(stage: .startTLS, code: -1, text: "no answer to StartTLS: timed out"), "request_failed"),
            (LDAPFailure(stage: .rootDSE, code: 8, text: "Strong(er) authentication required"), "strong_auth_required"),
            (LDAPFailure(stage: .rootDSE, code: -4, text: "Decoding error"), "not_ldap"),
            (LDAPFailure(stage: .rootDSE, code: -1, text: "Can't contact LDAP server"), "request_failed"),
        ]
        for (failure, reason) in cases {
            var seen = LDAPObservation()
            seen.failure = failure
            #expect(Self.verdict(seen).worst?.reason == reason, "\(failure.description)")
        }
    }
}
