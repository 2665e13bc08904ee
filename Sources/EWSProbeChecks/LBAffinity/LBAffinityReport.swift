import EWSProbeCore

/// One address's `lb_affinity` result: the census table in the notes, metrics per backend,
/// the observations in the details.
enum LBAffinityReport {
    static func render(_ m: LBAffinityMeasurement, address: String, verdict: LBAffinityVerdict, into result: inout CheckResult) {
        result.measurements += measurements(m, label: [("address", address)])
        result.notes += notes(m)
        if !m.cookieCensus.isEmpty {
            let cookieBackends = Set(m.cookieCensus.compactMap(\.identity))
            result.details.append(("cookie_census_backends", .array(cookieBackends.sorted().map { .string($0) })))
        }
        result.details += [
            ("census", .array(m.census.map(\.json))),
            ("distribution", .object(m.ranked.map { ($0.key, .int($0.value)) })),
            ("affinity_ratio", .number(m.ratio)),
            (
                "tls_resumption",
                m.resumption.map { .object([("resumed", .int($0.resumed)), ("offered", .int($0.offered))]) } ?? .null
            ),
            ("legs", .array(m.legs.map(\.json))),
            ("handshake", m.handshake.map { .object([("ok", .bool($0.ok)), ("detail", .string($0.detail))]) } ?? .null),
            ("split_handshake", m.split.map { .string($0) } ?? .null),
        ]
        result.status = verdict.status
        result.reason = verdict.reason
        result.summary = verdict.summary
    }

    static func measurements(_ m: LBAffinityMeasurement, label: [(String, String)]) -> [Measurement] {
        var out = [
            Measurement(
                "ewsprobe_lb_backends", Double(m.counts.count), help: "Distinct backends answering the census of fresh connections.",
                labels: label),
            Measurement(
                "ewsprobe_lb_affinity_ratio", m.ratio, help: "Share of census connections on the most common backend (1 = sticky).",
                labels: label),
        ]
        for (identity, count) in m.ranked {
            let sample = m.census.first { $0.identity == identity }!
            out.append(
                Measurement(
                    "ewsprobe_lb_backend_info", 1, help: "Backends seen in the census; the value is always 1.",
                    labels: label + [
                        ("backend", identity), ("netbios_name", LabelValue.bounded(sample.netbiosName ?? "")),
                        ("dns_name", LabelValue.bounded(sample.dnsName ?? "")), ("os_version", LabelValue.bounded(sample.osVersion ?? "")),
                    ]))
            out.append(
                Measurement(
                    "ewsprobe_lb_backend_connections", Double(count), help: "Census connections per backend.",
                    labels: label + [("backend", identity)]))
        }
        if let skew = m.census.compactMap(\.clockSkewSeconds).first {
            out.append(
                Measurement(
                    "ewsprobe_ntlm_clock_skew_seconds", skew, help: "Server clock minus local clock, from the NTLM timestamp.",
                    labels: label))
        }
        if let handshake = m.handshake {
            out.append(
                Measurement(
                    "ewsprobe_ntlm_handshake_success", handshake.ok ? 1 : 0,
                    help: "Whether a full NTLM handshake on one connection succeeded.", labels: label))
        }
        return out
    }

    static func notes(_ m: LBAffinityMeasurement) -> [String] {
        var notes = ["census of \(m.census.count) fresh connections:"]
        for (identity, count) in m.ranked {
            let sample = m.census.first { $0.identity == identity }!
            notes.append(
                "  \(identity.padding(toLength: 28, withPad: " ", startingAt: 0)) \(count)x  netbios=\(sample.netbiosName ?? "-") os=\(sample.osVersion ?? "-")"
            )
        }
        if let resumption = m.resumption {
            notes.append("TLS: \(resumption.resumed) of \(resumption.offered) later census connections resumed the session offered")
        }
        notes.append(
            "\(m.legs.count) legs on one connection: \(m.reusedLegs) reused it; identities seen: \(m.legIdentities.sorted().joined(separator: ", "))"
        )
        if !m.cookieCensus.isEmpty {
            notes.append("census returning the persistence cookie reached \(Set(m.cookieCensus.compactMap(\.identity)).count) backend(s)")
        }
        if let handshake = m.handshake { notes.append("full NTLM handshake on one connection: \(handshake.detail)") }
        if let split = m.split { notes.append("split handshake (challenge on A, AUTHENTICATE on fresh B): \(split)") }
        return notes
    }
}
