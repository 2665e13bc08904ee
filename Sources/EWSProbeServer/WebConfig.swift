import EWSProbeCore
import Foundation
import NIOSSL

/// `--web.config.file` in the Prometheus exporter-toolkit format, so the endpoints are protected
/// like every other exporter's: TLS (optionally with client certificates), Basic auth users with
/// bcrypt hashes, extra response headers and a request rate limit. Errors name file:line and key.
public struct WebConfig: Sendable {
    public var tls: TLSConfiguration?
    /// User name → bcrypt hash.
    public var users: [String: String] = [:]
    public var headers: [(String, String)] = []
    public var rateLimit: RateLimit?

    public struct RateLimit: Sendable {
        public var interval: Duration
        public var burst: Int
    }

    public init() {}

    static let clientAuthTypes = ["NoClientCert", "RequireAndVerifyClientCert"]
    static let versions: [String: TLSVersion] = ["TLS10": .tlsv1, "TLS11": .tlsv11, "TLS12": .tlsv12, "TLS13": .tlsv13]
    // Keys of the exporter-toolkit format that ewsprobe does not implement: refused by name
    // rather than silently ignored, so nobody believes a setting is in force when it is not.
    static let unsupported: Set<String> = [
        "cert", "key", "client_ca", "client_allowed_sans", "cipher_suites", "curve_preferences", "prefer_server_cipher_suites",
    ]

    public static func load(file path: String) throws -> WebConfig {
        var config = WebConfig()
        // An empty file is valid and changes nothing, as with the other exporters.
        if let data = FileManager.default.contents(atPath: path), String(decoding: data, as: UTF8.self).allSatisfy(\.isWhitespace) {
            return config
        }
        let root = try ConfigLoader.document(file: path)
        for (key, section) in try root.entries(allowed: ["tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"]) {
            switch key {
            case "tls_server_config": config.tls = try tlsConfiguration(section)
            case "http_server_config":
                for (httpKey, value) in try section.entries(allowed: ["headers", "http2"]) {
                    if httpKey == "http2" { continue }  // HTTP/1.1 only; accepted for files shared with other exporters
                    for (name, header) in try value.entries() {
                        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }), !name.isEmpty else {
                            throw header.error("not a valid header name")
                        }
                        config.headers.append((name, try header.string()))
                    }
                }
            case "basic_auth_users":
                for (user, hash) in try section.entries() {
                    let text = try hash.nonEmptyString()
                    guard BcryptVerifier.isBcryptHash(text) else {
                        throw hash.error("expected a bcrypt hash ($2a$, $2b$ or $2y$, e.g. from htpasswd -nBC 10)")
                    }
                    config.users[user] = text
                }
            default:
                var limit = RateLimit(interval: .seconds(1), burst: 1)
                for (limitKey, value) in try section.entries(allowed: ["interval", "burst"]) {
                    if limitKey == "interval" {
                        limit.interval = try value.duration()
                    } else {
                        limit.burst = try value.int(in: 1...1_000_000)
                    }
                }
                config.rateLimit = limit
            }
        }
        return config
    }

    static func tlsConfiguration(_ section: YAMLSection) throws -> TLSConfiguration {
        var certFile: String?
        var keyFile: String?
        var clientCAFile: String?
        var clientAuth = "NoClientCert"
        var minimum = TLSVersion.tlsv12
        var maximum: TLSVersion?
        var keySection = section
        var caSection = section
        for (key, value) in try section.entries() {
            switch key {
            case "cert_file": certFile = try value.nonEmptyString()
            case "key_file":
                keyFile = try value.nonEmptyString()
                keySection = value
            case "client_ca_file":
                clientCAFile = try value.nonEmptyString()
                caSection = value
            case "client_auth_type":
                clientAuth = try value.string()
                guard clientAuthTypes.contains(clientAuth) else {
                    throw value.error("supported: \(clientAuthTypes.joined(separator: ", "))")
                }
            case "min_version", "max_version":
                guard let version = versions[try value.string()] else {
                    throw value.error("expected one of \(versions.keys.sorted().joined(separator: ", "))")
                }
                if key == "min_version" { minimum = version } else { maximum = version }
            default:
                if unsupported.contains(key) { throw value.error("not supported by ewsprobe; use cert_file, key_file, client_ca_file") }
                throw value.error("unknown key")
            }
        }
        guard let certFile, let keyFile else { throw section.error("cert_file and key_file are both required") }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certFile)
        } catch {
            throw section.error("cert_file \(certFile): cannot load a PEM certificate (\(error))")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw keySection.error("cannot load a PEM private key from \(keyFile)")
        }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = minimum
        tls.maximumTLSVersion = maximum
        if clientAuth != "NoClientCert" {
            guard let clientCAFile else { throw section.error("client_auth_type \(clientAuth) needs client_ca_file") }
            guard FileManager.default.isReadableFile(atPath: clientCAFile) else { throw caSection.error("cannot read \(clientCAFile)") }
            tls.trustRoots = .file(clientCAFile)
            tls.certificateVerification = .noHostnameVerification
        }
        return tls
    }
}
