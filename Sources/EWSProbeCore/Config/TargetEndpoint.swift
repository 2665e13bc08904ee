import EWSProbeTransport

/// What a target probes: an EWS or directory URL, a Microsoft 365 tenant or a Google Workspace
/// account. The plan, the reports, the labels and `/metrics` carry it as it is.
public enum TargetEndpoint: Sendable, Equatable, CustomStringConvertible {
    case url(EndpointURL)
    case m365(M365Connector)
    case googleWorkspace(GoogleWorkspaceConnector)

    public var kind: EndpointKind {
        switch self {
        case .url(let url): url.kind
        case .m365: .m365
        case .googleWorkspace: .googleWorkspace
        }
    }

    /// The URL whose host `dns`, `tcp` and `tls` judge first: the target's own, or for a connector
    /// the authority that issues its tokens.
    public var primaryURL: EndpointURL {
        switch self {
        case .url(let url): url
        case .m365(let connector): connector.authority
        case .googleWorkspace(let connector): connector.tokenURI
        }
    }

    /// Every host a run of this target connects to, the primary one first, each once: a
    /// connector's authority and API hosts.
    public var hostURLs: [EndpointURL] {
        let all: [EndpointURL]
        switch self {
        case .url(let url): return [url]
        case .m365(let connector): all = [connector.authority, connector.graph, connector.exchange]
        case .googleWorkspace(let connector): all = [connector.tokenURI, connector.api]
        }
        var seen: Set<String> = []
        return all.filter { seen.insert("\($0.host):\($0.port)").inserted }
    }

    /// The URL, or `m365:TENANT/CLIENT_ID`, `google_workspace:CLIENT_EMAIL`: what reports and
    /// `ewsprobe_target_info{url}` show.
    public var description: String {
        switch self {
        case .url(let url): url.description
        case .m365(let connector): "m365:\(connector.tenant)/\(connector.clientID)"
        case .googleWorkspace(let connector): "google_workspace:\(connector.clientEmail)"
        }
    }

    public var m365: M365Connector? {
        if case .m365(let connector) = self { return connector }
        return nil
    }

    public var googleWorkspace: GoogleWorkspaceConnector? {
        if case .googleWorkspace(let connector) = self { return connector }
        return nil
    }
}
