import EWSProbeCore
import EWSProbeTransport
import Logging
import ServiceLifecycle

/// Keeps a StatefulSet pod's shard count in step with its peers: resolves the headless Service
/// every `refresh` and re-shards when the number of pods changed. Until the first answer the
/// pod probes nothing (a guess could probe targets twice); a failed lookup keeps the count it
/// had. A pod whose ordinal is beyond the count (being scaled away) probes nothing.
struct ShardWatcher: Service {
    let host: String
    let refresh: Duration
    let resolver: Resolver
    let logger: Logger
    /// Called with each new count.
    let changed: @Sendable (Int) async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown { await watch() }
    }

    private func watch() async {
        var current: Int?
        while !Task.isCancelled {
            switch await resolver.resolve(host, timeout: .seconds(5)) {
            case .success(let addresses):
                // One address per pod; a dual-stack Service gives each pod an A and an AAAA record.
                let unique = Set(addresses)
                let v6 = unique.filter { $0.contains(":") }.count
                let count = max(unique.count - v6, v6)
                if count != current {
                    logger.info("shard peers \(host): \(count) pod(s) (was \(current.map(String.init) ?? "unknown"))")
                    current = count
                    await changed(count)
                }
            case .failure(let failure):
                logger.warning("shard peers \(host) did not resolve (\(failure.reason)); keeping \(current.map(String.init) ?? "no") count")
            }
            try? await Task.sleep(for: refresh)
        }
    }
}
