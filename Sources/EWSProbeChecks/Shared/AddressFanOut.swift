import EWSProbeCore

/// What every check that connects shares: the run's addresses or the one `no_addresses` skip
/// when `dns` found none, and one piece of work per address with the answers in address order.
enum AddressFanOut {
    /// The run's addresses; nil when there are none (then return `noAddresses`).
    static func addresses(_ ctx: ProbeContext) async -> [String]? {
        let addresses = await ctx.addresses().addresses
        return addresses.isEmpty ? nil : addresses
    }

    /// The skip a check returns when `dns` left it nothing to `purpose` ("connect to", "ask").
    static func noAddresses(_ check: String, _ purpose: String, timer: CheckTimer? = nil) -> CheckResult {
        CheckResult(
            check: check, status: .skip, reason: "no_addresses", summary: "no address to \(purpose) (dns failed)",
            durationSeconds: timer?.elapsed ?? 0)
    }

    /// `work` for every address at once, answers in address order. One address (the usual case)
    /// runs inline: each child task is a thread hop.
    static func map<T: Sendable>(_ addresses: [String], _ work: @escaping @Sendable (Int, String) async -> T) async -> [T] {
        if addresses.count == 1 { return [await work(0, addresses[0])] }
        return await withTaskGroup(of: (Int, T).self) { group in
            for (index, address) in addresses.enumerated() {
                group.addTask { (index, await work(index, address)) }
            }
            var collected: [(Int, T)] = []
            for await item in group { collected.append(item) }
            return collected.sorted { $0.0 < $1.0 }.map { $0.1 }
        }
    }
}
