import EWSProbeCore
import EWSProbeTransport
import Foundation

/// Which share of the fleet this instance probes. Fixed (`--shard I/N`, N instances on one
/// file), or in a Kubernetes StatefulSet (`--shard auto --shard-peers NAME`): the index is the
/// pod's ordinal (`POD_NAME` `ewsprobe-3` is 3) and the count is how many addresses the peers'
/// headless Service name resolves to, read again every `refresh`, so `kubectl scale` re-shards
/// every pod without a configuration edit.
public struct ShardAssignment: Sendable, Equatable {
    public enum Count: Sendable, Equatable {
        case fixed(Int)
        /// The number of addresses `host` resolves to (one per pod of the StatefulSet).
        case peers(host: String, refresh: Duration)
    }

    public var index: Int
    public var count: Count

    public static let single = ShardAssignment(index: 0, count: .fixed(1))

    public init(index: Int, count: Count) {
        self.index = index
        self.count = count
    }

    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// `--shard` (`I/N` or `auto`) with `--shard-peers` and where the pod's name comes from.
    public static func parse(_ text: String, peers: String?, refresh: Duration, podName: String?) -> Result<ShardAssignment, Problem> {
        if text == "auto" {
            guard let peers, !peers.isEmpty else {
                return .failure(Problem(description: "--shard auto needs --shard-peers (the StatefulSet's headless Service name)"))
            }
            guard let podName, let index = ordinal(of: podName) else {
                return .failure(
                    Problem(
                        description:
                            "--shard auto: the pod's name (POD_NAME, else the host name) must end in -ORDINAL, got \"\(podName ?? "")\""
                    ))
            }
            return .success(ShardAssignment(index: index, count: .peers(host: peers, refresh: refresh)))
        }
        guard peers == nil else { return .failure(Problem(description: "--shard-peers goes with --shard auto")) }
        let parts = text.split(separator: "/").compactMap { Int($0) }
        guard parts.count == 2, parts[1] >= 1, (0..<parts[1]).contains(parts[0]) else {
            return .failure(Problem(description: "--shard: expected I/N with 0 <= I < N, or auto, got \"\(text)\""))
        }
        return .success(ShardAssignment(index: parts[0], count: .fixed(parts[1])))
    }

    /// `ewsprobe-12` -> 12: a StatefulSet names its pods NAME-ORDINAL.
    static func ordinal(of name: String) -> Int? {
        guard let dash = name.lastIndex(of: "-"), let value = Int(name[name.index(after: dash)...]), value >= 0, value < 100_000
        else { return nil }
        return value
    }
}
