import Logging

/// A log handler that passes every message and metadata value through the process's known
/// secrets before the wrapped handler writes it, so no log line can carry a password whichever
/// code logged it (ewsprobe's or a library's).
public struct RedactingLogHandler: LogHandler {
    public var wrapped: any LogHandler
    let secrets: KnownSecrets

    public init(_ wrapped: any LogHandler, secrets: KnownSecrets = .process) {
        self.wrapped = wrapped
        self.secrets = secrets
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }

    public var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    public var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        let redactor = secrets.redactor
        guard !redactor.isEmpty else { return wrapped.log(event: event) }
        var event = event
        event.message = "\(redactor.redact(event.message.description))"
        event.metadata = event.metadata.map { $0.mapValues { Self.redact($0, redactor) } }
        if let error = event.error, redactor.redact("\(error)") != "\(error)" { event.error = nil }
        // The handler's own metadata (and its provider's) is printed too.
        var handler = wrapped
        handler.metadata = handler.metadata.mapValues { Self.redact($0, redactor) }
        handler.log(event: event)
    }

    static func redact(_ value: Logger.Metadata.Value, _ redactor: SecretRedactor) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): .string(redactor.redact(text))
        case .stringConvertible(let item): .string(redactor.redact(item.description))
        case .array(let items): .array(items.map { redact($0, redactor) })
        case .dictionary(let pairs): .dictionary(pairs.mapValues { redact($0, redactor) })
        }
    }
}
