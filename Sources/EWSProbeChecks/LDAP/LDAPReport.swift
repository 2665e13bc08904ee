import EWSProbeCore
import EWSProbeTransport

/// The `ldap` result: every step in the trace, the verdict's worst finding as the summary, the
/// contract's metrics, the RootDSE and account facts in the details.
enum LDAPReport {
    static func render(_ seen: LDAPObservation, verdict: LDAPVerdict, probe: LDAPProbe, includeDetails: Bool) -> CheckResult {
        var result = CheckResult(check: LDAPCheck.name, status: verdict.status, summary: "")
        result.trace = trace(seen, probe: probe)
        result.measurements = measurements(seen, verdict: verdict, probe: probe)
        result.notes = verdict.findings.map { "\($0.status == .fail ? "FAIL" : "WARN") \($0.reason): \($0.message)" }
        if let worst = verdict.worst {
            result.reason = worst.reason
            let others = Set(verdict.findings.map(\.reason)).subtracting([worst.reason]).sorted()
            result.summary = worst.message + (others.isEmpty ? "" : " (also: \(others.joined(separator: ", ")))")
        } else {
            result.summary = summary(seen, verdict: verdict, probe: probe)
        }
        if includeDetails { result.details = details(seen, verdict: verdict) }
        return result
    }

    static func summary(_ seen: LDAPObservation, verdict: LDAPVerdict, probe: LDAPProbe) -> String {
        let server = "\(vendor(seen.rootDSE)) \(seen.rootDSE?.first("dnsHostName") ?? probe.url.host)"
        let hidden = seen.rootDSEHidden.map { "; it \($0)" } ?? ""
        guard let username = probe.username else {
            return
                "\(server) answered over \(probe.url.startsTLS ? "StartTLS" : "LDAPS")\(hidden); the bind was not tested (no credentials)"
        }
        var text = "\(server): \(username) bound\(hidden)"
        if !seen.unreachable.isEmpty, let address = seen.address {
            text += " at \(address) (\(seen.unreachable.count) address(es) before it took no connection)"
        }
        if case .success(let entries) = seen.mailbox, let mailbox = probe.mailbox { text += ", \(mailbox) found (\(entries.count))" }
        if verdict.passwordExpiry == nil {
            text += verdict.expiryKnown ? "; the password does not expire" : "; its password policy is not readable (expiry unknown)"
        }
        return text
    }

    static func trace(_ seen: LDAPObservation, probe: LDAPProbe) -> [String] {
        var lines = seen.unreachable.map { "connect \(IPAddress.endpoint($0.0, probe.url.port)): \($0.1); the next address" }
        lines.append(
            "connect \(IPAddress.endpoint(seen.address ?? "-", probe.url.port)) and \(probe.url.startsTLS ? "StartTLS" : "LDAPS")")
        if let failure = seen.failure { return lines + ["\(failure.stage.rawValue): \(failure.description)"] }
        let took = Dictionary(seen.seconds, uniquingKeysWith: { first, _ in first })
        func ms(_ step: String) -> String { took[step].map { " in \(TCPCheck.ms($0))" } ?? "" }
        func rootLine(_ label: String) -> String? {
            seen.rootDSE.map { root in
                "\(label)\(ms("rootdse")): \(vendor(root)), dnsHostName \(root.first("dnsHostName") ?? "-"), base \(seen.base ?? "-")"
                    + (root.all("supportedExtension").contains(LDAPStartTLSPreamble.oid) ? ", StartTLS offered" : "")
            }
        }
        if let hidden = seen.rootDSEHidden { lines.append("RootDSE (anonymous): the server \(hidden)") }
        if seen.rootDSEHidden == nil, let line = rootLine("RootDSE") { lines.append(line) }
        if let bind = seen.bind {
            lines.append(
                "bind as \(probe.username ?? "")\(ms("bind")): result \(bind.code)\(bind.diagnostic.isEmpty ? "" : " (\(bind.diagnostic))")"
            )
        }
        // Read again once bound, when the anonymous read showed nothing.
        if seen.rootDSEHidden != nil, let line = rootLine("RootDSE (bound)") { lines.append(line) }
        switch seen.mailbox {
        case .success(let entries):
            lines.append("search \(seen.filter ?? "")\(ms("search")): \(entries.count) entr\(entries.count == 1 ? "y" : "ies")")
        case .failure(let failure): lines.append("search \(seen.filter ?? "")\(ms("search")): \(failure.description)")
        case nil: break
        }
        if let account = seen.account {
            let facts = account.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.joined(separator: "|"))" }
            lines.append("account \(LDAPSession.bounded(account.dn))\(ms("account")): \(facts.joined(separator: ", "))")
        }
        return lines
    }

    static func measurements(_ seen: LDAPObservation, verdict: LDAPVerdict, probe: LDAPProbe) -> [Measurement] {
        var out: [Measurement] = []
        if let bind = seen.bind {
            out.append(
                Measurement(
                    "ewsprobe_ldap_bind_success", bind.failure == nil && bind.code == 0 ? 1 : 0,
                    help: "Whether the service account's bind succeeded."))
        }
        for (operation, seconds) in seen.seconds {
            out.append(
                Measurement(
                    "ewsprobe_ldap_operation_seconds", seconds, help: "How long each directory operation took.",
                    labels: [("operation", operation)]))
        }
        if case .success(let entries) = seen.mailbox {
            out.append(
                Measurement("ewsprobe_ldap_entries_found", Double(entries.count), help: "Entries found for the mailbox-check address."))
        }
        if let expiry = verdict.passwordExpiry {
            out.append(
                Measurement("ewsprobe_ldap_password_expiry_timestamp_seconds", expiry, help: "When the service account's password expires.")
            )
        }
        if let skew = verdict.clockSkewSeconds {
            out.append(Measurement("ewsprobe_ldap_clock_skew_seconds", skew, help: "The directory's clock minus ours."))
        }
        if let root = seen.rootDSE {
            out.append(
                Measurement(
                    "ewsprobe_ldap_server_info", 1, help: "The directory server as its RootDSE describes it; the value is always 1.",
                    labels: [
                        ("vendor", LabelValue.bounded(vendor(root))),
                        ("dns_host_name", LabelValue.bounded(root.first("dnsHostName") ?? "")),
                    ]))
        }
        return out
    }

    /// The server's kind as the RootDSE tells it.
    static func vendor(_ root: LDAPEntry?) -> String {
        guard let root else { return "unknown" }
        if let name = root.first("vendorName") { return name }
        if root.first("domainFunctionality") != nil { return "Active Directory" }
        if (root.all("objectClass") + root.all("structuralObjectClass")).contains("OpenLDAProotDSE") { return "OpenLDAP" }
        return "unknown"
    }

    static func details(_ seen: LDAPObservation, verdict: LDAPVerdict) -> [(String, JSONValue)] {
        var details: [(String, JSONValue)] = []
        if let root = seen.rootDSE {
            details.append(
                ("root_dse", .object(root.attributes.sorted { $0.key < $1.key }.map { ($0.key, .array($0.value.map { .string($0) })) })))
        }
        details.append(("base", seen.base.map { .string($0) } ?? .null))
        details.append(("password_expiry", verdict.passwordExpiry.map { .string(Timestamp.text($0)) } ?? .null))
        details.append(
            ("findings", .array(verdict.findings.map { .object([("reason", .string($0.reason)), ("message", .string($0.message))]) })))
        return details
    }
}
