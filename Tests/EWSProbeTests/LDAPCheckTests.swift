import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeExposition
@testable import EWSProbeTransport

/// `ldaps://` and `ldap://` endpoints against OpenLDAP's slapd (Debian), configured by the test
/// itself: LDAPS and StartTLS with test-made certificates, the ppolicy overlay's accounts, a
/// server without TLS. `ldapwhoami` (ldap-utils) is the independent client for each bind
/// verdict, slapd's own log the proof that no bind arrived on an untrusted certificate.
@Suite(.serialized) struct LDAPCheckTests {
    static let host = "ldap.lab.test"
    static let base = "dc=example,dc=com"
    static func dn(_ uid: String) -> String { "uid=\(uid),ou=people,\(base)" }

    final class Lab: @unchecked Sendable {
        let pki: TestPKI
        let slapd: DirectoryLab.Slapd
        let ca: String

        init(extra: [String] = []) throws {
            pki = try TestPKI(name: "ldap")
            let leaf = try pki.issue("ldap", names: [LDAPCheckTests.host], ipAddresses: ["127.0.0.1"])
            slapd = try DirectoryLab.Slapd(certificate: leaf, ca: pki.caPEM, extra: extra)
            ca = pki.caPEM.path
        }

        var ldaps: String { "ldaps://\(LDAPCheckTests.host):\(slapd.ldapsPort)" }
        var ldap: String { "ldap://\(LDAPCheckTests.host):\(slapd.ldapPort)" }
    }

    static let lab = Result { try Lab() }

    func ldapResult(_ report: ProbeReport) throws -> CheckResult { try #require(report.check("ldap")) }

    @Test func healthyAccountOverLDAPSAndStartTLS() async throws {
        let lab = try Self.lab.get()
        for url in [lab.ldaps, lab.ldap] {
            let report = try await DirectoryLab.probe(
                url, caFile: lab.ca, username: Self.dn("svc-sync"), password: "Svc-Sync-Pass-1!", mailbox: "user@example.com")
            #expect(report.checks.map(\.check) == ["dns", "tcp", "tls", "ldap"])
            #expect(report.checks.allSatisfy { $0.status == .pass }, "\(report.checks.map { "\($0.check): \($0.summary)" })")
            let ldap = try ldapResult(report)
            #expect(ldap.measurements.first { $0.name == "ewsprobe_ldap_bind_success" }?.value == 1)
            #expect(ldap.measurements.first { $0.name == "ewsprobe_ldap_entries_found" }?.value == 1)
            #expect(
                Set(ldap.measurements.filter { $0.name == "ewsprobe_ldap_operation_seconds" }.map { $0.labels[0].1 }) == [
                    "rootdse", "bind", "search", "account",
                ])
            #expect(ldap.trace.contains { $0.hasPrefix("bind as \(Self.dn("svc-sync"))") })
        }
        // The oracle binds the same way: LDAPS, and StartTLS demanded (-ZZ).
        let port = lab.slapd.ldapsPort
        #expect(
            DirectoryLab.ldapwhoami(
                ["-x", "-H", "ldaps://127.0.0.1:\(port)", "-D", Self.dn("svc-sync"), "-w", "Svc-Sync-Pass-1!"], caFile: lab.ca
            ).status == 0)
        #expect(
            DirectoryLab.ldapwhoami(
                ["-x", "-ZZ", "-H", "ldap://127.0.0.1:\(lab.slapd.ldapPort)", "-D", Self.dn("svc-sync"), "-w", "Svc-Sync-Pass-1!"],
                caFile: lab.ca
            )
            .status == 0)
    }

    @Test func withoutCredentialsOnlyTheRootDSE() async throws {
        let lab = try Self.lab.get()
        let ldap = try ldapResult(try await DirectoryLab.probe(lab.ldaps, caFile: lab.ca))
        #expect(ldap.status == .pass)
        #expect(ldap.summary.contains("the bind was not tested"))
        #expect(
            ldap.measurements.contains { $0.name == "ewsprobe_ldap_server_info" && $0.labels.contains { $0 == ("vendor", "OpenLDAP") } })
    }

    @Test func accountStatesAsPpolicyTellsThem() async throws {
        let lab = try Self.lab.get()
        let cases: [(String, String, CheckStatus, String?)] = [
            ("locked", "Account locked", .fail, "account_locked_out"),
            ("pwexpired", "Password expired", .fail, "password_expired"),
            ("mustchange", "Password must be changed", .fail, "password_must_change"),
            // Bound on a grace login: the bind works until they run out.
            ("pwgrace", "grace logins remain", .fail, "password_expired"),
            ("pwexpiring", "Password expires in", .fail, "password_expiring"),
            ("pwwarn", "Password expires in", .warn, "password_expiring"),
        ]
        for (uid, oracle, status, reason) in cases {
            let ldap = try ldapResult(
                try await DirectoryLab.probe(lab.ldaps, caFile: lab.ca, username: Self.dn(uid), password: "Lab-Pass-1!"))
            #expect(ldap.status == status && ldap.reason == reason, "\(uid): \(ldap.summary)")
            let said = DirectoryLab.ldapwhoami(
                ["-x", "-e", "ppolicy", "-H", "ldaps://127.0.0.1:\(lab.slapd.ldapsPort)", "-D", Self.dn(uid), "-w", "Lab-Pass-1!"],
                caFile: lab.ca)
            #expect(said.output.contains(oracle), "ldapwhoami for \(uid): \(said.output)")
        }
        let wrong = try ldapResult(
            try await DirectoryLab.probe(lab.ldaps, caFile: lab.ca, username: Self.dn("svc-sync"), password: "wrong"))
        #expect(wrong.reason == "bind_rejected")
        #expect(wrong.measurements.first { $0.name == "ewsprobe_ldap_bind_success" }?.value == 0)
        let oracle = DirectoryLab.ldapwhoami(
            ["-x", "-H", "ldaps://127.0.0.1:\(lab.slapd.ldapsPort)", "-D", Self.dn("svc-sync"), "-w", "wrong"], caFile: lab.ca)
        #expect(oracle.status == 49 && oracle.output.contains("Invalid credentials"))
    }

    @Test func expiryDateFromThePolicy() async throws {
        // Every account names its policy: the expiry is pwdChangedTime + pwdMaxAge, as ldapsearch reads them.
        let lab = try Lab(extra: ["--explicit-policy"])
        let ldap = try ldapResult(
            try await DirectoryLab.probe(lab.ldaps, caFile: lab.ca, username: Self.dn("svc-aging"), password: "Lab-Pass-1!"))
        #expect(ldap.status == .warn && ldap.reason == "password_expiry_set", "\(ldap.summary)")
        let expiry = try #require(ldap.measurements.first { $0.name == "ewsprobe_ldap_password_expiry_timestamp_seconds" }?.value)
        #expect(abs(expiry - (Date().timeIntervalSince1970 + 90 * 86400)) < 3600)
        var relaxed = LDAPCheck()
        relaxed.requireNonExpiringPassword = false
        let allowed = try ldapResult(
            try await DirectoryLab.probe(lab.ldaps, caFile: lab.ca, username: Self.dn("svc-aging"), password: "Lab-Pass-1!", ldap: relaxed))
        #expect(allowed.status == .pass)
        let service = try ldapResult(
            try await DirectoryLab.probe(lab.ldaps, caFile: lab.ca, username: Self.dn("svc-sync"), password: "Svc-Sync-Pass-1!"))
        #expect(service.status == .pass && service.summary.contains("does not expire"))
    }

    /// A directory that hides its RootDSE from anonymous clients (an ACL: an empty answer;
    /// `require authc`: result 53) still binds the service account: the RootDSE is read again
    /// once bound and the search runs under the naming context it names. Without credentials
    /// the check passes and says what it saw; a wrong password is still `bind_rejected`.
    @Test func rootDSEHiddenFromAnonymousClients() async throws {
        let variants: [([String], String)] = [
            (
                ["--global", "access to dn.base=\"\" by users read by * none", "--global", "access to * by * read"],
                "shows no RootDSE entry"
            ),
            (["--global", "require authc"], "result 53"),
        ]
        for (extra, hidden) in variants {
            let lab = try Lab(extra: extra)
            let bound = try ldapResult(
                try await DirectoryLab.probe(
                    lab.ldaps, caFile: lab.ca, username: Self.dn("svc-sync"), password: "Svc-Sync-Pass-1!", mailbox: "user@example.com"))
            #expect(bound.status == .pass && bound.summary.contains(hidden), "\(bound.summary)")
            #expect(bound.trace.contains { $0.hasPrefix("RootDSE (bound)") && $0.contains("base \(Self.base)") }, "\(bound.trace)")
            #expect(bound.measurements.first { $0.name == "ewsprobe_ldap_entries_found" }?.value == 1)
            #expect(bound.measurements.filter { $0.name == "ewsprobe_ldap_operation_seconds" }.count == 4)
            let wrong = try ldapResult(
                try await DirectoryLab.probe(lab.ldaps, caFile: lab.ca, username: Self.dn("svc-sync"), password: "wrong"))
            #expect(wrong.reason == "bind_rejected", "\(wrong.summary)")
            let anonymous = try ldapResult(try await DirectoryLab.probe(lab.ldaps, caFile: lab.ca))
            #expect(anonymous.status == .pass && anonymous.summary.contains(hidden), "\(anonymous.summary)")
            #expect(anonymous.summary.contains("the bind was not tested"))
            // The oracle: anonymous ldapsearch sees no naming context, a bound one does.
            let port = lab.slapd.ldapsPort
            let base = ["-x", "-H", "ldaps://127.0.0.1:\(port)", "-s", "base", "-b", "", "namingContexts"]
            #expect(!DirectoryLab.ldapsearch(base, caFile: lab.ca).output.contains("namingContexts: \(Self.base)"))
            #expect(
                DirectoryLab.ldapsearch(["-D", Self.dn("svc-sync"), "-w", "Svc-Sync-Pass-1!"] + base, caFile: lab.ca).output.contains(
                    "namingContexts: \(Self.base)"))
        }
    }

    /// A name with several addresses (a domain's controllers), the first refusing connections:
    /// `ldap` goes on to the next, as a directory client fails over, and says where it bound.
    @Test func nextAddressWhenTheFirstRefuses() async throws {
        let lab = try Self.lab.get()
        let ldap = try ldapResult(
            try await DirectoryLab.probe(
                lab.ldaps, address: "127.0.0.2", alsoAt: ["127.0.0.1"], caFile: lab.ca, username: Self.dn("svc-sync"),
                password: "Svc-Sync-Pass-1!"))
        #expect(ldap.status == .pass && ldap.summary.contains("at 127.0.0.1"), "\(ldap.summary)")
        #expect(ldap.trace.first?.hasPrefix("connect 127.0.0.2:\(lab.slapd.ldapsPort): ") == true, "\(ldap.trace)")
    }

    @Test func mailboxSearch() async throws {
        let lab = try Self.lab.get()
        let missing = try ldapResult(
            try await DirectoryLab.probe(
                lab.ldaps, caFile: lab.ca, username: Self.dn("svc-sync"), password: "Svc-Sync-Pass-1!", mailbox: "nobody@example.com"))
        #expect(missing.reason == "entry_not_found")
        #expect(missing.measurements.first { $0.name == "ewsprobe_ldap_entries_found" }?.value == 0)
        var elsewhere = LDAPCheck()
        elsewhere.base = "ou=nowhere,\(Self.base)"
        let failed = try ldapResult(
            try await DirectoryLab.probe(
                lab.ldaps, caFile: lab.ca, username: Self.dn("svc-sync"), password: "Svc-Sync-Pass-1!", mailbox: "user@example.com",
                ldap: elsewhere))
        #expect(failed.reason == "search_failed" && failed.summary.contains("32"), "\(failed.summary)")
    }

    @Test func untrustedCertificateSendsNoPassword() async throws {
        let lab = try Self.lab.get()
        let dn = Self.dn("user2")
        let before = lab.slapd.binds(of: dn)
        for url in [lab.ldaps, lab.ldap] {
            let report = try await DirectoryLab.probe(url, caFile: nil, username: dn, password: "Lab-Pass-1!")
            #expect(report.check("tls")?.reason == "untrusted_root")
            #expect(try ldapResult(report).reason == "tls_untrusted")
        }
        usleep(200_000)
        // slapd logs every bind that reaches it: none did.
        #expect(lab.slapd.binds(of: dn) == before)
        // The oracle refuses the same certificate.
        let said = DirectoryLab.ldapwhoami(
            ["-x", "-H", "ldaps://127.0.0.1:\(lab.slapd.ldapsPort)", "-D", dn, "-w", "Lab-Pass-1!"], caFile: nil)
        #expect(said.status != 0)
        #expect(lab.slapd.binds(of: dn) == before)
    }

    @Test func certificateNotNamingTheHost() async throws {
        let pki = try TestPKI(name: "ldap-other")
        let slapd = try DirectoryLab.Slapd(certificate: try pki.issue("other", names: ["other.lab.test"]), ca: pki.caPEM)
        let report = try await DirectoryLab.probe(
            "ldaps://\(Self.host):\(slapd.ldapsPort)", caFile: pki.caPEM.path, username: Self.dn("user2"), password: "Lab-Pass-1!")
        #expect(report.check("tls")?.reason == "hostname_mismatch")
        #expect(try ldapResult(report).reason == "tls_untrusted")
        #expect(slapd.binds(of: Self.dn("user2")) == 0)
    }

    @Test func serverWithoutStartTLS() async throws {
        let slapd = try DirectoryLab.Slapd(certificate: nil, ca: nil)
        let report = try await DirectoryLab.probe(
            "ldap://\(Self.host):\(slapd.ldapPort)", caFile: nil, username: Self.dn("user2"), password: "Lab-Pass-1!")
        #expect(report.check("tcp")?.status == .pass)
        #expect(report.check("tls")?.reason == "handshake_failed")
        #expect(report.check("tls")?.summary.contains("StartTLS refused") == true)
        #expect(try ldapResult(report).reason == "starttls_refused")
        #expect(slapd.binds(of: Self.dn("user2")) == 0)
    }

    @Test func strongerAuthenticationRequired() async throws {
        let lab = try Lab(extra: ["--global", "require strong"])
        let ldap = try ldapResult(
            try await DirectoryLab.probe(lab.ldaps, caFile: lab.ca, username: Self.dn("svc-sync"), password: "Svc-Sync-Pass-1!"))
        #expect(ldap.reason == "strong_auth_required", "\(ldap.summary)")
    }

    @Test func clockSkewFromTheMonitor() async throws {
        // slapd ten minutes ahead (libfaketime); OpenLDAP tells its clock in cn=Monitor only.
        let lab = try Lab(extra: ["--clock-offset", "600"])
        let ldap = try ldapResult(
            try await DirectoryLab.probe(lab.ldaps, caFile: lab.ca, username: Self.dn("svc-sync"), password: "Svc-Sync-Pass-1!"))
        #expect(ldap.status == .warn && ldap.reason == "clock_skew", "\(ldap.summary)")
        let skew = try #require(ldap.measurements.first { $0.name == "ewsprobe_ldap_clock_skew_seconds" }?.value)
        #expect(abs(skew - 600) < 30)
    }

    /// The password in no surface: the JSON report with details, the verbose text report, the
    /// metrics, for a bind that worked and one that was rejected.
    @Test func passwordInNoOutput() async throws {
        let lab = try Self.lab.get()
        for password in ["Svc-Sync-Pass-1!", "Wrong-Pass-For-Leak-Test"] {
            let report = try await DirectoryLab.probe(lab.ldaps, caFile: lab.ca, username: Self.dn("svc-sync"), password: password)
            let target = TargetConfig(name: "dir", url: try #require(EndpointURL(lab.ldaps)))
            let surfaces = [
                ("json", JSONReport.line(report, includeTrace: true)), ("text", HumanReport.render(report, verbose: true)),
                ("metrics", String(decoding: MetricsRenderer.render(report: report, target: target), as: UTF8.self)),
            ]
            for (name, text) in surfaces {
                #expect(!text.contains(password), "\(name) shows the password")
            }
        }
    }

    @Test func serverTextIsKeptShort() {
        let long = String(repeating: "é", count: 2000)
        let kept = LDAPSession.bounded(long)
        #expect(kept.utf8.count <= LDAPSession.textKept + 3)
        #expect(kept.hasSuffix("…"))
        #expect(LDAPSession.bounded("short") == "short")
    }

    @Test func checksThatDoNotApplyToADirectory() async throws {
        let lab = try Self.lab.get()
        let endpoint = try #require(EndpointURL(lab.ldaps))
        let module = try ModuleConfig.builtinDefault.selecting(["tcp", "auth_methods", "ews_login", "ldap"])
        let target = TargetConfig(
            name: "dir", url: endpoint, module: module,
            resolve: [ResolvePin(host: Self.host, port: endpoint.port, addresses: ["127.0.0.1"])],
            caFile: lab.ca)
        let report = await ProbeRunner(runtime: .test).run(target)
        #expect(report.check("auth_methods")?.reason == "not_applicable")
        #expect(report.check("ews_login")?.reason == "not_applicable")
        #expect(report.check("tcp")?.status == .pass)
        #expect(report.check("ldap")?.status == .pass)
    }
}
