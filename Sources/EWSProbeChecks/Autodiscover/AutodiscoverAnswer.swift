/// What an Autodiscover POX answer says (responseschema 2006a).
public struct AutodiscoverAnswer: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        case settings
        case redirectAddress(String)
        case redirectURL(String)
    }

    /// The answer's root was `Autodiscover`: anything else is not Autodiscover.
    public var isAutodiscover = false
    public var action: Action?
    /// `Protocol` `Type` EXPR (outside) and EXCH (inside) `EwsUrl`s.
    public var externalEwsURL: String?
    public var internalEwsURL: String?
    /// The error form: `ErrorCode` and `Message` (500 "The e-mail address cannot be found.").
    public var errorCode: String?
    public var errorMessage: String?
    /// Why the document was refused (a DTD, too deep, ...); nil when it was read.
    public var refusal: String?

    public init() {}
}
