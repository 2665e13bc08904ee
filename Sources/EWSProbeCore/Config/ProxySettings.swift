import EWSProbeTransport
import Foundation

/// `proxy:` of a module or a target: the outbound HTTP proxy every connection of the HTTP checks
/// tunnels through (CONNECT), its account, and the hosts reached without it. Nothing comes from
/// the environment (`HTTPS_PROXY`, `NO_PROXY`): a monitor must not change its path because of
/// the shell it was started from.
public struct ProxySettings: Sendable {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: SecretReference?
    /// Hosts reached directly: an exact name, or `.example.com` for every name under it.
    public var noProxy: [String] = []

    public init(host: String, port: Int, username: String? = nil, password: SecretReference? = nil, noProxy: [String] = []) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.noProxy = noProxy
    }

    /// `http://host:port`, as `--proxy` and `url:` give it.
    public static func parse(url text: String) -> Result<(host: String, port: Int), ProxyURLError> {
        guard text.lowercased().hasPrefix("http://") else {
            return .failure(ProxyURLError(message: "\"\(text)\" is not an http:// proxy URL (the proxy is spoken to in clear HTTP)"))
        }
        guard !text.dropFirst(7).contains("@") else {
            return .failure(ProxyURLError(message: "credentials are never written in the proxy URL: use username and password_file"))
        }
        guard let url = EndpointURL(text), url.path == "/", URLComponents(string: text)?.port != nil else {
            return .failure(ProxyURLError(message: "\"\(text)\" is not a proxy URL (http://HOST:PORT, the port written out)"))
        }
        return .success((url.host, url.port))
    }

    public struct ProxyURLError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Whether `host` is reached without the proxy.
    public func bypasses(_ host: String) -> Bool {
        let name = host.lowercased()
        return noProxy.contains { entry in
            let entry = entry.lowercased()
            return entry.hasPrefix(".") ? name.hasSuffix(entry) || name == entry.dropFirst() : name == entry
        }
    }
}

extension YAMLSection {
    func proxySettings() throws -> ProxySettings {
        let allowed: Set<String> = ["url", "username", "password_file", "password_env", "password", "no_proxy"]
        var settings: ProxySettings?
        var username: (String, YAMLSection)?
        var password: (SecretReference, YAMLSection)?
        var noProxy: [String] = []
        for (key, value) in try entries(allowed: allowed) {
            switch key {
            case "url":
                switch ProxySettings.parse(url: try value.nonEmptyString()) {
                case .success(let (host, port)): settings = ProxySettings(host: host, port: port)
                case .failure(let problem): throw value.error(problem.message)
                }
            case "username": username = (try value.nonEmptyString(), value)
            case "password": throw value.error("a password is never written inline: use password_file or password_env")
            case "password_file", "password_env":
                guard password == nil else { throw value.error("give either password_file or password_env, not both") }
                let text = try value.nonEmptyString()
                password = (key == "password_file" ? .file(text) : .environment(text), value)
            case "no_proxy":
                noProxy = try value.stringList()
                if let bad = noProxy.first(where: { $0.isEmpty || $0.contains("/") || $0.contains(" ") || $0 == "*" }) {
                    throw value.error("\"\(bad)\" is not a host name or a .domain suffix")
                }
            default: break
            }
        }
        guard var settings else { throw error("proxy needs url (http://HOST:PORT)") }
        if let (_, section) = username, password == nil { throw section.error("username needs password_file or password_env") }
        if let (_, section) = password, username == nil { throw section.error("a password reference needs a username") }
        settings.username = username?.0
        settings.password = password?.0
        settings.noProxy = noProxy
        return settings
    }
}
