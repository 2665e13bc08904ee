import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeTransport

/// Directory peers that are broken or hostile (hostile_ldap.py): not LDAP, silent, closing,
/// dropping the connection after StartTLS, refusing it, lying BER lengths. Each ends in a
/// failed check with its reason within the target's timeout; none crashes or hangs the probe,
/// and a crowd of silent directories does not starve a healthy one.
@Suite(.serialized) struct HostileLDAPTests {
    static let host = "ldap.lab.test"

    final class Certificates: @unchecked Sendable {
        let pki: TestPKI
        let leaf: (URL, URL)
        init() throws {
            pki = try TestPKI(name: "hostile-ldap")
            leaf = try pki.issue("leaf", names: [HostileLDAPTests.host], ipAddresses: ["127.0.0.1"])
        }
    }

    static let certificates = Result { try Certificates() }

    func probe(_ mode: String, scheme: String = "ldap", tls: Bool = false, startTLS: Bool = false, timeout: Duration = .seconds(3))
        async throws -> (ProbeReport, Double)
    {
        let certificates = try Self.certificates.get()
        let (peer, port) = try DirectoryLab.hostile(mode, tls: tls ? certificates.leaf : nil, startTLS: startTLS ? certificates.leaf : nil)
        defer { peer.stop() }
        let start = ContinuousClock.now
        let report = try await DirectoryLab.probe(
            "\(scheme)://\(Self.host):\(port)", caFile: certificates.pki.caPEM.path, username: "uid=svc,dc=example,dc=com",
            password: "Hostile-Pass-1!", timeout: timeout)
        return (report, (ContinuousClock.now - start).seconds)
    }

    @Test func notLDAP() async throws {
        for mode in ["http", "garbage", "truncated"] {
            let (report, _) = try await probe(mode)
            #expect(report.check("ldap")?.reason == "not_ldap", "\(mode): \(report.check("ldap")?.summary ?? "")")
            #expect(report.check("tls")?.reason == "handshake_failed")
        }
        // On 636 the same server behind TLS: the handshake works, the LDAP does not.
        let (report, _) = try await probe("http", scheme: "ldaps", tls: true)
        #expect(report.check("tls")?.status == .pass)
        #expect(["not_ldap", "request_failed"].contains(report.check("ldap")?.reason ?? ""), "\(report.check("ldap")?.summary ?? "")")
    }

    /// A server that accepts the connection and never answers the TLS handshake, reached by
    /// `ldap` itself (a module without `tls`, whose own handshake would have used up the time):
    /// libldap's handshake ends at the deadline without spinning a core, and no password is sent.
    @Test func silentHandshakeEndsAtTheDeadlineWithoutSpinning() async throws {
        let (peer, port) = try DirectoryLab.hostile("silent")
        defer { peer.stop() }
        var before = rusage()
        getrusage(RUSAGE_SELF.rawValue, &before)
        let start = ContinuousClock.now
        let report = try await DirectoryLab.probe(
            "ldaps://\(Self.host):\(port)", caFile: nil, username: "uid=svc,dc=example,dc=com", password: "Hostile-Pass-1!",
            checks: ["ldap"], timeout: .seconds(3))
        let seconds = (ContinuousClock.now - start).seconds
        var after = rusage()
        getrusage(RUSAGE_SELF.rawValue, &after)
        func cpu(_ usage: rusage) -> Double {
            Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        let ldap = try #require(report.check("ldap"))
        #expect(ldap.status == .fail && ["request_failed", "probe_timeout"].contains(ldap.reason ?? ""), "\(ldap.summary)")
        #expect(seconds < 4.5, "took \(seconds) s")
        // A spinning handshake burns about a core for the whole timeout.
        #expect(cpu(after) - cpu(before) < 1.0, "the probe used \(cpu(after) - cpu(before)) s of CPU")
    }

    /// An unsolicited notification (messageID 0) after the handshake: a proper notice of
    /// disconnection, and one without a responseName, on which libldap 2.5 asserts and aborts
    /// the whole process. Both end the session: `request_failed`, and the process lives on.
    @Test func unsolicitedNotificationEndsTheSession() async throws {
        let certificates = try Self.certificates.get()
        for oid in ["1.3.6.1.4.1.1466.20036", ""] {
            let (peer, port) = try DirectoryLab.hostile("notice", tls: certificates.leaf, extra: ["--notice-oid", oid])
            defer { peer.stop() }
            let report = try await DirectoryLab.probe(
                "ldaps://\(Self.host):\(port)", caFile: certificates.pki.caPEM.path, username: "uid=svc,dc=example,dc=com",
                password: "Hostile-Pass-1!", timeout: .seconds(3))
            let ldap = try #require(report.check("ldap"))
            #expect(ldap.status == .fail && ldap.reason == "request_failed", "\(oid): \(ldap.summary)")
            #expect(ldap.measurements.first { $0.name == "ewsprobe_ldap_bind_success" } == nil, "\(oid): no bind after the notice")
        }
    }

    /// A server that reflects the password at the end of a long diagnostic, where the kept
    /// 512 bytes end inside it: redacted before the cut, no part of it is shown.
    @Test func reflectedPasswordIsRedactedBeforeTheCut() async throws {
        let certificates = try Self.certificates.get()
        let (peer, port) = try DirectoryLab.hostile("echo-password", tls: certificates.leaf)
        defer { peer.stop() }
        let report = try await DirectoryLab.probe(
            "ldaps://\(Self.host):\(port)", caFile: certificates.pki.caPEM.path, username: "uid=svc,dc=example,dc=com",
            password: "Hostile-Pass-1!", timeout: .seconds(3))
        let ldap = try #require(report.check("ldap"))
        #expect(ldap.reason == "bind_rejected", "\(ldap.summary)")
        let shown = ([ldap.summary] + ldap.trace + ldap.notes).joined(separator: "\n")
        #expect(shown.contains("<redacted>"), "\(shown)")
        #expect(!shown.contains("Hostile-Pass"), "\(shown)")
    }

    /// A server that ignores the size limit and streams thousands of 4 KiB entries for every
    /// search: the check keeps what it asked for and abandons the rest, so the process's peak
    /// memory does not follow the flood (it held every entry until the search ended).
    @Test func floodOfEntriesIsAbandonedAtTheLimit() async throws {
        let certificates = try Self.certificates.get()
        let (peer, port) = try DirectoryLab.hostile("flood", tls: certificates.leaf, extra: ["--flood", "20000"])
        defer { peer.stop() }
        func peakRSS() -> Int {
            let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
            return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
        }
        // The peak from here on: writing 5 to clear_refs resets VmHWM (Linux 4.0).
        let clear = fopen("/proc/self/clear_refs", "w")
        if let clear {
            fputs("5", clear)
            fclose(clear)
        }
        var settings = LDAPCheck()
        settings.base = "dc=example,dc=com"
        let before = peakRSS()
        let report = try await DirectoryLab.probe(
            "ldaps://\(Self.host):\(port)", caFile: certificates.pki.caPEM.path, username: "uid=svc,dc=example,dc=com",
            password: "Hostile-Pass-1!", mailbox: "user@example.com", ldap: settings, timeout: .seconds(20))
        let grown = peakRSS() - before
        let ldap = try #require(report.check("ldap"))
        #expect(ldap.measurements.first { $0.name == "ewsprobe_ldap_entries_found" }?.value == 2, "\(ldap.summary)")
        #expect(clear != nil && grown < 40 << 20, "peak RSS grew by \(grown >> 20) MiB")
    }

    /// Active Directory writes every BER length in four octets (30 84 00 00 00 28 ...): its
    /// StartTLS answer is LDAP (the handshake follows and `tls` judges it), its refusal is
    /// `starttls_refused`.
    @Test func activeDirectoryLengths() async throws {
        let certificates = try Self.certificates.get()
        let (agreeing, port) = try DirectoryLab.hostile("wrong-id", startTLS: certificates.leaf, extra: ["--ad-lengths"])
        defer { agreeing.stop() }
        let report = try await DirectoryLab.probe(
            "ldap://\(Self.host):\(port)", caFile: certificates.pki.caPEM.path, timeout: .seconds(3))
        #expect(report.check("tls")?.status == .pass, "\(report.check("tls")?.summary ?? "")")
        #expect(report.check("ldap")?.summary.contains("StartTLS") == false, "\(report.check("ldap")?.summary ?? "")")
        let (refusing, refusedPort) = try DirectoryLab.hostile("starttls-refused", extra: ["--ad-lengths"])
        defer { refusing.stop() }
        let refused = try await DirectoryLab.probe("ldap://\(Self.host):\(refusedPort)", caFile: nil, timeout: .seconds(3))
        #expect(refused.check("ldap")?.reason == "starttls_refused", "\(refused.check("ldap")?.summary ?? "")")
    }

    @Test func silentAndClosingServersEndWithinTheTimeout() async throws {
        for mode in ["silent", "close", "banner"] {
            let (report, seconds) = try await probe(mode, timeout: .seconds(2))
            let ldap = try #require(report.check("ldap"))
            #expect(ldap.status == .fail, "\(mode)")
            #expect(
                ["request_failed", "not_ldap", "probe_timeout"].contains(ldap.reason ?? ""), "\(mode): \(ldap.reason ?? "") \(ldap.summary)"
            )
            #expect(seconds < 4, "\(mode) took \(seconds) s")
        }
    }

    @Test func startTLSRefusedOrDropped() async throws {
        let (refused, _) = try await probe("starttls-refused")
        #expect(refused.check("ldap")?.reason == "starttls_refused")
        #expect(refused.check("tls")?.summary.contains("StartTLS refused") == true)
        let (dropped, _) = try await probe("drop-after-starttls")
        #expect(dropped.check("ldap")?.reason == "tls_untrusted", "\(dropped.check("ldap")?.summary ?? "")")
        #expect(dropped.check("tls")?.reason == "handshake_failed")
    }

    @Test func lyingAndMalformedAnswers() async throws {
        for mode in ["oversized", "huge-length", "length-overflow", "malformed", "wrong-tag", "wrong-id", "indefinite"] {
            let (report, seconds) = try await probe(mode, timeout: .seconds(2))
            let ldap = try #require(report.check("ldap"))
            #expect(ldap.status == .fail, "\(mode): \(ldap.summary)")
            #expect(
                ["request_failed", "not_ldap", "starttls_refused", "probe_timeout"].contains(ldap.reason ?? ""),
                "\(mode): \(ldap.reason ?? "")")
            #expect(report.check("tls")?.reason == "handshake_failed", "\(mode): tls \(report.check("tls")?.summary ?? "")")
            #expect(seconds < 4, "\(mode) took \(seconds) s")
        }
    }

    /// A crowd of directories that answer TCP and TLS and then never answer LDAP (a load
    /// balancer whose domain controllers are down): each holds a libldap call for its whole
    /// timeout. A healthy directory probed a moment later, with a shorter timeout than the
    /// crowd's, still passes, and the crowd ends within its timeout: no run waits for a thread.
    @Test func silentDirectoriesDoNotStarveAHealthyOne() async throws {
        let certificates = try Self.certificates.get()
        let slapd = try DirectoryLab.Slapd(certificate: certificates.leaf, ca: certificates.pki.caPEM)
        let (silentTLS, tlsPort) = try DirectoryLab.hostile("silent", tls: certificates.leaf)
        let (silentStartTLS, startTLSPort) = try DirectoryLab.hostile("silent", startTLS: certificates.leaf)
        let (silent, plainPort) = try DirectoryLab.hostile("silent")
        defer { [silentTLS, silentStartTLS, silent].forEach { $0.stop() } }
        let ca = certificates.pki.caPEM.path
        let crowd =
            Array(repeating: "ldaps://\(Self.host):\(tlsPort)", count: 30)
            + Array(repeating: "ldap://\(Self.host):\(startTLSPort)", count: 20)
            + Array(repeating: "ldap://\(Self.host):\(plainPort)", count: 10)
        let start = ContinuousClock.now
        let (healthy, slowest, crowdStatuses) = await withTaskGroup(of: (Bool, CheckResult?, Double).self) { group in
            for url in crowd {
                group.addTask {
                    let report = try? await DirectoryLab.probe(
                        url, caFile: ca, username: "uid=svc,dc=example,dc=com", password: "Hostile-Pass-1!", timeout: .seconds(6))
                    return (false, report?.check("ldap"), (ContinuousClock.now - start).seconds)
                }
            }
            group.addTask {
                // Once the crowd holds its connections, with a shorter timeout than theirs.
                try? await Task.sleep(for: .seconds(1))
                let report = try? await DirectoryLab.probe(
                    "ldaps://\(Self.host):\(slapd.ldapsPort)", caFile: ca, username: LDAPCheckTests.dn("svc-sync"),
                    password: "Svc-Sync-Pass-1!", timeout: .seconds(3))
                return (true, report?.check("ldap"), (ContinuousClock.now - start).seconds)
            }
            var healthy: CheckResult?
            var slowest = 0.0
            var statuses: [CheckStatus?] = []
            for await (isHealthy, result, seconds) in group {
                if isHealthy { healthy = result } else { statuses.append(result?.status) }
                slowest = max(slowest, seconds)
            }
            return (healthy, slowest, statuses)
        }
        #expect(healthy?.status == .pass, "\(healthy?.summary ?? "no result")")
        #expect(crowdStatuses.count == crowd.count && crowdStatuses.allSatisfy { $0 == .fail })
        // Their 6 s, plus SYN retransmits to a Python server whose accept queue overflows.
        #expect(slowest < 10, "the crowd took \(slowest) s")
    }
}
