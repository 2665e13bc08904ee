import EWSProbeCore

/// The `lb_affinity` verdict on one address's measurement, worst cause first: a server change
/// inside one connection breaks NTLM outright, so it outranks a switch between connections.
struct LBAffinityVerdict: Equatable {
    var status: CheckStatus
    var reason: String?
    var summary: String

    init(_ m: LBAffinityMeasurement) {
        let backends = m.counts.count
        let alsoSwitched = backends >= 2 ? "; fresh connections also reached \(backends) backends" : ""
        if m.legIdentities.count >= 2 {
            self.init(
                .fail, "connection_rebalanced",
                "the server changed within one kept-alive connection (\(m.legIdentities.sorted().joined(separator: ", "))): requests are balanced per request, which breaks NTLM"
                    + alsoSwitched)
        } else if let lost = m.lostConnection {
            // NTLM's AUTHENTICATE must travel on the CHALLENGE's connection: without it nothing works.
            self.init(
                .fail, "ntlm_handshake_failed",
                "keep-alive legs: \(lost); NTLM needs the CHALLENGE's connection for the AUTHENTICATE" + alsoSwitched)
        } else if backends >= 2 {
            let list = m.ranked.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
            self.init(
                .fail, "backend_switch",
                "fresh connections reached \(backends) backends: \(list); configure source-IP persistence for the service's addresses")
        } else if let handshake = m.handshake, !handshake.ok {
            self.init(.fail, "ntlm_handshake_failed", "full NTLM handshake failed: \(handshake.detail)")
        } else if backends == 0 {
            let tls =
                m.resumptionSplit.map {
                    "; but only \($0.resumed) of \($0.offered) connections resumed the TLS session offered, which suggests more than one TLS endpoint"
                } ?? ""
            self.init(
                .warn, "inconclusive", "no server identity exposed (no NTLM target names, no Exchange headers): affinity unknown" + tls)
        } else {
            let login = m.handshake.map { $0.ok ? "; NTLM login works" : "" } ?? ""
            self.init(.pass, nil, "all \(m.census.count) fresh connections and \(m.legs.count) legs reached \(m.ranked[0].key)" + login)
        }
    }

    init(_ status: CheckStatus, _ reason: String?, _ summary: String) {
        self.status = status
        self.reason = reason
        self.summary = summary
    }
}
