/// What `lb_affinity` saw at one address: the census over fresh connections, the legs on one
/// kept-alive connection, the optional cookie census and, with credentials, the handshakes.
struct LBAffinityMeasurement {
    var census: [LBObservation] = []
    var legs: [LBObservation] = []
    var cookieCensus: [LBObservation] = []
    var handshake: (ok: Bool, detail: String)?
    var split: String?
    /// Census connections that offered the session of the one before, and how many resumed it
    /// (nil when none offered: plain http, `tls_resumption: false`, a client that cannot).
    var resumption: (resumed: Int, offered: Int)? {
        let offering = census.filter(\.tlsSessionOffered)
        return offering.isEmpty ? nil : (offering.filter(\.tlsResumed).count, offering.count)
    }

    /// `resumption` when some connections resumed and some did not: most likely a TLS endpoint that kept the
    /// session and one that had never seen it (a balancer passing TLS through to the servers
    /// shows its spread here even when no server names itself); a single endpoint with caches per
    /// process or a ticket key rotated mid-census looks the same, hence only a hint.
    var resumptionSplit: (resumed: Int, offered: Int)? {
        resumption.flatMap { $0.resumed > 0 && $0.resumed < $0.offered ? $0 : nil }
    }

    /// Census connections per identity.
    var counts: [String: Int] {
        census.reduce(into: [:]) { counts, observation in
            if let id = observation.identity { counts[id, default: 0] += 1 }
        }
    }

    /// Identities, most connections first (ties by name).
    var ranked: [(key: String, value: Int)] {
        counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
    }

    /// Share of identified census connections on the most common backend (1 = sticky).
    var ratio: Double {
        let identified = census.filter { $0.identity != nil }.count
        return identified == 0 ? 0 : Double(ranked.first?.value ?? 0) / Double(identified)
    }

    var reusedLegs: Int { legs.dropFirst().filter { !$0.newConnection }.count }

    /// The identities seen on the busiest connection: stability is judged within each
    /// connection only, a leg on a new connection starts a group.
    var legIdentities: Set<String> {
        Self.connectionGroups(legs).map { Set($0.compactMap(\.identity)) }.max { $0.count < $1.count } ?? []
    }

    /// The legs split where one opened a new connection: each group shared one connection.
    static func connectionGroups(_ legs: [LBObservation]) -> [[LBObservation]] {
        var groups: [[LBObservation]] = []
        for leg in legs {
            if leg.newConnection || groups.isEmpty { groups.append([]) }
            groups[groups.count - 1].append(leg)
        }
        return groups
    }

    /// Which leg could not reuse the connection and why (what the answer before it said).
    var lostConnection: String? {
        guard let index = legs.indices.dropFirst().first(where: { legs[$0].newConnection }) else { return nil }
        let cause = legs[index - 1].closesConnection ?? "the server closed the connection after the CHALLENGE"
        return "leg \(index + 1) of \(legs.count) needed a new connection (\(cause))"
    }
}
