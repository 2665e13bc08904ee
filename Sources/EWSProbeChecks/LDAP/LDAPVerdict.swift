import CLDAP
import EWSProbeCore

/// The `ldap` verdict on what one run saw (pure: unit-tested with fixed observations and a
/// fixed clock, and against slapd and Samba). Every finding is kept; the worst decides.
struct LDAPVerdict {
    struct Finding: Equatable {
        var reason: String
        var status: CheckStatus
        var message: String
    }

    var findings: [Finding] = []
    /// When the service account's password expires (nil: never, or not known).
    var passwordExpiry: Double?
    /// Whether the directory said when (or that never): ppolicy's default policy is not
    /// visible to clients unless the account names its policy or the bind warns.
    var expiryKnown = false
    var clockSkewSeconds: Double?

    init(_ seen: LDAPObservation, settings: LDAPCheck, now: Double) {
        if let failure = seen.failure {
            findings.append(Self.sequenceFailure(failure))
            return
        }
        if let text = seen.serverTime, let server = LDAPText.generalizedTime(text) {
            clockSkewSeconds = server - now
        }
        if let bind = seen.bind {
            if let problem = Self.bindProblem(bind) {
                findings.append(problem)
                return
            }
            if case .failure(let failure) = seen.mailbox {
                findings.append(
                    Finding(reason: "search_failed", status: .fail, message: "the mailbox-check search failed: \(failure.description)"))
            } else if case .success(let entries) = seen.mailbox, entries.isEmpty {
                findings.append(
                    Finding(
                        reason: "entry_not_found", status: .fail,
                        message:
                            "no entry matches \(seen.filter ?? "") under \(seen.base ?? "the base"): recipient validation would reject its mail"
                    ))
            }
            (passwordExpiry, expiryKnown) = Self.expiry(seen, bind: bind, now: now)
            findings += Self.expiryFindings(passwordExpiry, settings: settings, now: now)
        }
        if let skew = clockSkewSeconds, abs(skew) > 300 {
            findings.append(
                Finding(
                    reason: "clock_skew", status: .warn,
                    message: "the directory's clock is \(Int(skew.rounded())) s off ours (Kerberos allows 300 s)"))
        }
    }

    var status: CheckStatus { findings.map(\.status).reduce(.pass) { $0.worse($1) } }
    var worst: Finding? { findings.first { $0.status == status } }

    /// Where the sequence stopped before the directory answered a request.
    static func sequenceFailure(_ failure: LDAPFailure) -> Finding {
        switch failure.stage {
        case .connect:
            return Finding(reason: "request_failed", status: .fail, message: "no connection: \(failure.description)")
        case .tls where failure.code == LDAP_TIMEOUT:
            return Finding(
                reason: "request_failed", status: .fail, message: "no LDAP answer: \(failure.description); the password was not sent")
        case .tls:
            return Finding(
                reason: "tls_untrusted", status: .fail,
                message: "TLS failed or did not verify (\(failure.description)): the password was not sent")
        case .startTLS where failure.serverAnswered:
            return Finding(reason: "starttls_refused", status: .fail, message: "the server refused StartTLS: \(failure.description)")
        case .rootDSE where failure.code == 8:
            return Finding(
                reason: "strong_auth_required", status: .fail,
                message: "the server demands a stronger bind (result 8): \(failure.description)")
        case .startTLS where failure.code == LDAPFailure.decodingError, .rootDSE where failure.code == LDAPFailure.decodingError:
            return Finding(reason: "not_ldap", status: .fail, message: "the server does not answer in LDAP (\(failure.description))")

        default:
            return Finding(
                reason: "request_failed", status: .fail,
                message: "no LDAP answer to the \(failure.stage.rawValue) step: \(failure.description)")
        }
    }

    /// A bind that did not succeed, named from Active Directory's data code or the ppolicy control.
    static func bindProblem(_ bind: LDAPBindResult) -> Finding? {
        if let failure = bind.failure {
            return Finding(reason: "request_failed", status: .fail, message: "the bind got no answer: \(failure.description)")
        }
        let adReasons = [
            "775": ("account_locked_out", "the service account is locked out"),
            "533": ("account_disabled", "the service account is disabled"),
            "532": ("password_expired", "the service account's password has expired"),
            "773": (
                "password_must_change", "the service account must change its password at next logon (the service needs one that does not)"
            ),
            "701": ("account_expired", "the service account has expired"),
        ]
        let policyReasons = [
            0: ("password_expired", "the service account's password has expired (ppolicy)"),
            1: ("account_locked_out", "the service account is locked (ppolicy)"),
            2: ("password_must_change", "the service account must change its password after a reset (ppolicy)"),
        ]
        switch bind.code {
        case 0:
            // ppolicy binds an expired password while grace binds remain: the service stops
            // when they run out.
            if let grace = bind.graceLogins {
                return Finding(
                    reason: "password_expired", status: .fail,
                    message: "the service account's password has expired; the directory allows \(grace) more bind(s) (ppolicy grace)")
            }
            guard let error = bind.policyError, error == 2, let (reason, text) = policyReasons[error] else { return nil }
            return Finding(reason: reason, status: .fail, message: text)
        case 8, 13:
            return Finding(
                reason: "strong_auth_required", status: .fail,
                message: "the server demands a stronger bind (result \(bind.code)): \(bind.diagnostic)")
        // Busy, unavailable, other, a referral (not followed), an operations or protocol error:
        // the directory did not judge the credentials.
        case 1, 2, 10, 51, 52, 80:
            return Finding(
                reason: "request_failed", status: .fail,
                message: "the directory did not process the bind (result \(bind.code)): \(bind.diagnostic)")
        case 49:
            if let code = LDAPText.dataCode(in: bind.diagnostic), let (reason, text) = adReasons[code] {
                return Finding(reason: reason, status: .fail, message: "\(text) (data \(code))")
            }
            if let error = bind.policyError, let (reason, text) = policyReasons[error] {
                return Finding(reason: reason, status: .fail, message: text)
            }
            let detail = bind.diagnostic.isEmpty ? "" : ": \(bind.diagnostic)"
            return Finding(reason: "bind_rejected", status: .fail, message: "invalid credentials (49)\(detail)")
        default:
            return Finding(
                reason: "bind_rejected", status: .fail, message: "the bind was refused with result \(bind.code): \(bind.diagnostic)")
        }
    }

    /// When the password expires: Active Directory computes it; ppolicy from the change time
    /// and the policy's maximum age, or from the bind's expiry warning.
    static func expiry(_ seen: LDAPObservation, bind: LDAPBindResult, now: Double) -> (Double?, known: Bool) {
        if let account = seen.account, let computed = account.first("msDS-UserPasswordExpiryTimeComputed") {
            let neverFlag = 0x10000
            if let control = account.first("userAccountControl").flatMap(Int.init), control & neverFlag != 0 { return (nil, true) }
            // Int64.max: never; 0 (pwdLastSet 0: must change) or a negative value: no date.
            guard let value = Int64(computed) else { return (nil, false) }
            if value == Int64.max { return (nil, true) }
            return value > 0 ? (LDAPText.fileTime(computed), true) : (nil, false)
        }
        if let warning = bind.secondsUntilExpiry { return (now + Double(warning), true) }
        // Seconds, as ppolicy keeps them; a value past a century is not a policy.
        let century: Int64 = 100 * 366 * 86_400
        guard let maxAge = seen.policy?.first("pwdMaxAge").flatMap({ Int64($0) }).flatMap({ (0...century).contains($0) ? Double($0) : nil })
        else { return (nil, false) }
        guard maxAge > 0 else { return (nil, true) }
        let changed = seen.account?.first("pwdChangedTime").flatMap(LDAPText.generalizedTime)
        return (changed.map { $0 + maxAge }, changed != nil)
    }

    static func expiryFindings(_ expiry: Double?, settings: LDAPCheck, now: Double) -> [Finding] {
        guard let expiry else { return [] }
        let days = (expiry - now) / 86400
        let date = Timestamp.text(expiry)
        if days < 0 {
            return [Finding(reason: "password_expired", status: .fail, message: "the service account's password expired on \(date)")]
        }
        if days < Double(settings.failDays) {
            return [
                Finding(
                    reason: "password_expiring", status: .fail,
                    message: "the service account's password expires in \(Int(days)) day(s) (\(date))")
            ]
        }
        if days < Double(settings.warnDays) {
            return [
                Finding(
                    reason: "password_expiring", status: .warn,
                    message: "the service account's password expires in \(Int(days)) day(s) (\(date))")
            ]
        }
        guard settings.requireNonExpiringPassword else { return [] }
        return [
            Finding(
                reason: "password_expiry_set", status: .warn,
                message: "the service account's password expires (\(date)); the service needs one that does not expire")
        ]
    }
}
