import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeTransport

/// The `ldap` check against a real Active Directory: Samba as a domain controller (Debian's
/// `samba`, `samba-tool domain provision`) on 127.0.0.11, one per test run. Its bind errors
/// carry the data codes a Windows DC sends; `msDS-UserPasswordExpiryTimeComputed` and
/// `proxyAddresses` are its own. `ldapsearch` is the oracle for each bind outcome.
@Suite(.serialized) struct LDAPActiveDirectoryTests {
    static let host = "dc1.example.com"
    static let ldaps = "ldaps://\(host)"
    static let ldap = "ldap://\(host)"

    func run(
        _ account: String?, url: String = ldaps, password: String? = nil, mailbox: String? = nil, ldap: LDAPCheck = LDAPCheck()
    ) async throws -> CheckResult {
        let samba = try DirectoryLab.Samba.shared.get()
        let report = try await DirectoryLab.probe(
            url, address: DirectoryLab.Samba.ip, caFile: samba.caFile, username: account.map { "\($0)@example.com" },
            password: password ?? account.map { samba.password($0) }, mailbox: mailbox, ldap: ldap, timeout: .seconds(15))
        #expect(report.check("tls")?.status == .pass, "tls: \(report.check("tls")?.summary ?? "")")
        return try #require(report.check("ldap"))
    }

    /// ldapsearch binding as `account` over LDAPS: its exit status and what it said.
    func oracle(_ account: String, password: String) throws -> (status: Int32, output: String) {
        let samba = try DirectoryLab.Samba.shared.get()
        let arguments = [
            "-x", "-H", "ldaps://\(DirectoryLab.Samba.ip)", "-D", "\(account)@example.com", "-w", password, "-b", "", "-s", "base",
            "dnsHostName",
        ]
        // Samba's certificate names the host, not the address: the oracle checks the chain only.
        return DirectoryLab.ldapTool("ldapsearch", arguments, caFile: samba.caFile, requireCert: "allow")
    }

    @Test func serviceAccountBindsAndFindsTheMailbox() async throws {
        for url in [Self.ldaps, Self.ldap] {
            let result = try await run("svc-sync", url: url, mailbox: "alias@example.com")
            #expect(result.status == .pass, "\(url): \(result.summary)")
            #expect(result.summary.contains("does not expire"))
            #expect(result.measurements.first { $0.name == "ewsprobe_ldap_entries_found" }?.value == 1)
            #expect(
                result.measurements.contains {
                    $0.name == "ewsprobe_ldap_server_info" && $0.labels.contains { $0 == ("dns_host_name", Self.host) }
                })
            // The RootDSE's currentTime: the DC's clock is ours.
            let skew = try #require(result.measurements.first { $0.name == "ewsprobe_ldap_clock_skew_seconds" }?.value)
            #expect(abs(skew) < 60)
        }
        let samba = try DirectoryLab.Samba.shared.get()
        #expect(try oracle("svc-sync", password: samba.password("svc-sync")).status == 0)
        let missing = try await run("svc-sync", mailbox: "nobody@example.com")
        #expect(missing.reason == "entry_not_found")
    }

    @Test func bindErrorsByDataCode() async throws {
        let samba = try DirectoryLab.Samba.shared.get()
        let cases: [(String, String, String)] = [
            ("disabled", "533", "account_disabled"),
            ("locked", "775", "account_locked_out"),
            ("mustchange", "773", "password_must_change"),
            ("pwexpired", "532", "password_expired"),
            ("acctexpired", "701", "account_expired"),
        ]
        for (account, code, reason) in cases {
            let result = try await run(account)
            #expect(result.status == .fail && result.reason == reason, "\(account): \(result.summary)")
            let said = try oracle(account, password: samba.password(account))
            #expect(said.status == 49 && said.output.contains("data \(code)"), "ldapsearch for \(account): \(said.output)")
        }
        let wrong = try await run("svc-sync", password: "not-the-password")
        #expect(wrong.reason == "bind_rejected")
        #expect(try oracle("svc-sync", password: "not-the-password").output.contains("data 52e"))
    }

    @Test func passwordExpiryFromTheComputedAttribute() async throws {
        let expiring = try await run("pwexpiring")
        #expect(expiring.status == .fail && expiring.reason == "password_expiring", "\(expiring.summary)")
        let warned = try await run("pwwarn")
        #expect(warned.status == .warn && warned.reason == "password_expiring", "\(warned.summary)")
        let aging = try await run("svc-aging")
        #expect(aging.status == .warn && aging.reason == "password_expiry_set", "\(aging.summary)")
        // The domain's maxPwdAge is 42 days and the password was set at the lab's start.
        let expiry = try #require(aging.measurements.first { $0.name == "ewsprobe_ldap_password_expiry_timestamp_seconds" }?.value)
        #expect(abs(expiry - (Date().timeIntervalSince1970 + 42 * 86400)) < 86400)
        let service = try await run("svc-sync")
        #expect(service.measurements.first { $0.name == "ewsprobe_ldap_password_expiry_timestamp_seconds" } == nil)
    }

    /// The URL names the domain controller by another name than its certificate (the seed's
    /// FQDN rule): `tls` says `hostname_mismatch` and sets the name the DC's RootDSE gives
    /// itself beside it, read without a password; `ldap` sends none. ldapsearch reads the same
    /// `dnsHostName`.
    @Test func mismatchShowsTheDirectorysOwnName() async throws {
        let samba = try DirectoryLab.Samba.shared.get()
        let before = samba.binds(of: "mailuser")
        let report = try await DirectoryLab.probe(
            "ldaps://directory.example.com", address: DirectoryLab.Samba.ip, caFile: samba.caFile, username: "mailuser@example.com",
            password: samba.password("mailuser"))
        let tls = try #require(report.check("tls"))
        #expect(tls.reason == "hostname_mismatch", "\(tls.summary)")
        #expect(tls.summary.lowercased().contains("rootdse names it \(Self.host)"), "\(tls.summary)")
        #expect(report.check("ldap")?.reason == "tls_untrusted")
        usleep(300_000)
        #expect(samba.binds(of: "mailuser") == before)
        let oracle = try oracle("mailuser", password: samba.password("mailuser"))
        #expect(oracle.output.lowercased().contains("dnshostname: \(Self.host)"), "\(oracle.output)")
    }

    @Test func noBindOnAnUntrustedCertificate() async throws {
        let samba = try DirectoryLab.Samba.shared.get()
        let before = samba.binds(of: "mailuser")
        let report = try await DirectoryLab.probe(
            Self.ldaps, address: DirectoryLab.Samba.ip, caFile: nil, username: "mailuser@example.com", password: samba.password("mailuser"))
        #expect(report.check("tls")?.status == .fail)
        #expect(report.check("ldap")?.reason == "tls_untrusted")
        usleep(300_000)
        #expect(samba.binds(of: "mailuser") == before)
    }
}
