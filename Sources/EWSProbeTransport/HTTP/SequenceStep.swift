/// How one exchange of a sequence (`HTTPTransport.exchangeSequence`) gets its connection.
public enum SequenceStep: Sendable, Equatable {
    /// A new connection of its own (the first step's always is).
    case fresh
    /// The connection the step before used, while its answer left it open; else a new one,
    /// which the answer's `ConnectionFacts.newConnections` shows.
    case reuse
}
