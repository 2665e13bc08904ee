/// One DNS SRV record (RFC 2782).
public struct SRVRecord: Sendable, Equatable {
    public var priority: Int
    public var weight: Int
    public var port: Int
    public var target: String

    public init(priority: Int, weight: Int, port: Int, target: String) {
        self.priority = priority
        self.weight = weight
        self.port = port
        self.target = target
    }

    /// The order to try them in: lowest priority first (RFC 2782), then the highest weight (the
    /// deterministic reading of its weighted choice, as Microsoft documents for Autodiscover).
    /// exchangelib takes the highest priority first, which is the wrong way round.
    public static func ordered(_ records: [SRVRecord]) -> [SRVRecord] {
        records.filter { $0.target != "." && !$0.target.isEmpty }.sorted {
            ($0.priority, -$0.weight, $0.target) < ($1.priority, -$1.weight, $1.target)
        }
    }
}
