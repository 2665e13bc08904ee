import Foundation

/// Front ends that put a forms-based login in front of EWS (signals.md's fingerprint table).
public enum FormsLoginVendor: String, Sendable, CaseIterable {
    case exchangeOWA = "exchange_owa"
    case isaTMG = "isa_tmg"
    case adfsWAP = "adfs_wap"
    case f5APM = "f5_apm"
    case citrixNetScaler = "citrix_netscaler"
    case kempESP = "kemp_esp"
    case entraAppProxy = "entra_app_proxy"
    case genericForm = "generic_form"

    public var displayName: String {
        switch self {
        case .exchangeOWA: "Exchange OWA forms authentication"
        case .isaTMG: "ISA/TMG forms authentication"
        case .adfsWAP: "AD FS / Web Application Proxy pre-authentication"
        case .f5APM: "F5 BIG-IP APM"
        case .citrixNetScaler: "Citrix NetScaler/ADC AAA"
        case .kempESP: "KEMP LoadMaster ESP"
        case .entraAppProxy: "Entra application proxy pre-authentication"
        case .genericForm: "an HTML login form"
        }
    }
}

/// What one hop of the redirect chain showed.
public struct FormsHop: Sendable {
    public var url: String
    public var status: Int
    public var location: String?
    public var cookieNames: [String]
    public var contentType: String?
    public var body: String
    public var hasAuthChallenge: Bool

    public init(
        url: String, status: Int, location: String? = nil, cookieNames: [String] = [], contentType: String? = nil,
        body: String = "", hasAuthChallenge: Bool = false
    ) {
        self.url = url
        self.status = status
        self.location = location
        self.cookieNames = cookieNames
        self.contentType = contentType
        self.body = body
        self.hasAuthChallenge = hasAuthChallenge
    }
}

/// Recognises a forms login from one hop, in the order signals.md gives: status and challenges,
/// then the redirect target, then cookie names, then HTML markers. Pure, so it is unit-tested
/// and fuzzed on its own.
public enum FormsLoginClassifier {
    public struct Finding: Sendable, Equatable {
        public var vendor: FormsLoginVendor
        /// What gave it away, for the report.
        public var evidence: String
    }

    static let locationRules: [(FormsLoginVendor, [String])] = [
        (.exchangeOWA, ["/owa/auth/logon.aspx", "/owa/auth.owa", "owaauth.dll"]),
        (.isaTMG, ["/cookieauth.dll"]),
        (.adfsWAP, ["/adfs/ls", "wa=wsignin1.0", "samlrequest="]),
        (.f5APM, ["/my.policy", "/vdesk/"]),
        (.citrixNetScaler, ["/vpn/index.html", "/vpn/tmindex.html", "/logon/logonpoint/"]),
        (.kempESP, ["lm_auth_proxy"]),
        (.entraAppProxy, ["login.microsoftonline.com", "login.windows.net"]),
    ]

    static let cookieRules: [(FormsLoginVendor, @Sendable (String) -> Bool)] = [
        (.exchangeOWA, { ["cadata", "cadatattl", "cadatakey", "cadataiv", "cadatasig", "pback"].contains($0) }),
        (.adfsWAP, { $0.hasPrefix("msisauth") || $0 == "msisloopdetectioncookie" || $0 == "edgeaccesscookie" }),
        // BIGipServer* is plain LTM persistence, not a login.
        (.f5APM, { ["mrhsession", "lastmrh_session", "f5_st"].contains($0) }),
        // Only NetScaler's AAA cookies: other NSC_* names are load-balancing persistence.
        (.citrixNetScaler, { ["nsc_tmaa", "nsc_tmas", "nsc_aaac", "nsc_tass"].contains($0) }),
        (.entraAppProxy, { $0.hasPrefix("azureappproxyaccesscookie_") || $0.hasPrefix("azureappproxypreauthsessioncookie_") }),
    ]

    static let bodyRules: [(FormsLoginVendor, [String])] = [
        (.exchangeOWA, ["/owa/auth.owa", "owaauth.dll", "/owa/auth/logon.aspx"]),
        (.isaTMG, ["cookieauth.dll"]),
        (.adfsWAP, ["formsauthentication", "/adfs/ls"]),
        (.f5APM, ["/my.policy", "mrhsession"]),
        (.citrixNetScaler, ["/vpn/index.html", "logonpoint", "/cgi/login"]),
        (.kempESP, ["lm_auth_proxy"]),
        (.entraAppProxy, ["login.microsoftonline.com"]),
    ]

    public static func classify(_ hop: FormsHop) -> Finding? {
        // A 401 with challenges is EWS (or a proxy) asking for HTTP authentication: no forms login.
        if hop.status == 401 && hop.hasAuthChallenge { return nil }
        if hop.status == 440 { return Finding(vendor: .exchangeOWA, evidence: "status 440 Login Timeout") }
        if let location = hop.location?.lowercased() {
            for (vendor, markers) in locationRules {
                if let marker = markers.first(where: location.contains) {
                    return Finding(vendor: vendor, evidence: "redirect to \(hop.location!) (\(marker))")
                }
            }
        }
        let cookies = hop.cookieNames.map { $0.lowercased() }
        for (vendor, matches) in cookieRules {
            if let cookie = cookies.first(where: matches) {
                return Finding(vendor: vendor, evidence: "cookie \(cookie)")
            }
        }
        guard hop.status == 200 || hop.status == 401 || hop.status == 403, isHTML(hop) else { return nil }
        let body = hop.body.lowercased()
        for (vendor, markers) in bodyRules {
            if let marker = markers.first(where: body.contains), body.contains("<form") {
                return Finding(vendor: vendor, evidence: "HTML login page (\(marker))")
            }
        }
        if body.contains("<form"), hasPasswordInput(body) {
            return Finding(vendor: .genericForm, evidence: "HTML form with a password field")
        }
        return nil
    }

    /// Exchange's own transient error redirect, which is not a login.
    public static func isExchangeErrorPage(_ location: String?) -> Bool {
        location?.lowercased().contains("/ews/genericerrorpage.htm") == true
            || location?.lowercased().contains("/owa/auth/errorfe.aspx") == true
    }

    static func isHTML(_ hop: FormsHop) -> Bool {
        if let type = hop.contentType?.lowercased(), type.contains("html") { return true }
        let start = hop.body.prefix(512).lowercased()
        return start.contains("<html") || start.contains("<!doctype html")
    }

    static func hasPasswordInput(_ body: String) -> Bool {
        var rest = Substring(body)
        while let open = rest.range(of: "<input") {
            let tail = rest[open.upperBound...]
            let end = tail.firstIndex(of: ">") ?? tail.endIndex
            let tag = tail[..<end].replacingOccurrences(of: " ", with: "")
            if tag.contains("type=\"password\"") || tag.contains("type='password'") || tag.contains("type=password") {
                return true
            }
            rest = tail[end...]
        }
        return false
    }
}
