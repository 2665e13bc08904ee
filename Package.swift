// swift-tools-version: 6.0
import PackageDescription

// The layers are separate modules; in release builds the optimizer still sees across them (a
// check calling the engine's small helpers inlines them as it did when all was one module).
let acrossModules: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "ewsprobe",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ewsprobe", targets: ["ewsprobe"]),
        .library(
            name: "EWSProbe",
            targets: ["EWSProbeTransport", "EWSProbeCore", "EWSProbeChecks", "EWSProbeExposition"]
        ),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // Already in the graph through Hummingbird; named because EWSProbeServer imports them.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // The cloud connectors' client assertions (PS256, RS256) and the tokens' claims.
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CAres",
            pkgConfig: "libcares",
            providers: [.apt(["libc-ares-dev"])]
        ),
        .systemLibrary(
            name: "CLDAP",
            pkgConfig: "ldap",
            providers: [.apt(["libldap-dev"])]
        ),
        .systemLibrary(
            name: "CCrypt",
            providers: [.apt(["libcrypt-dev"])]
        ),
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(name: "CSwiftRuntime"),
        // The layers, each importing only those below it, so a back-edge does not compile:
        // transport (bytes, TLS, DNS) < core (config, engine, results) < checks and exposition
        // < server and demo < the executable.
        .target(
            name: "EWSProbeTransport",
            dependencies: ["CCurl", "COpenSSL", "CAres"],
            swiftSettings: acrossModules
        ),
        .target(
            name: "EWSProbeCore",
            dependencies: [
                "EWSProbeTransport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: acrossModules
        ),
        .target(
            name: "EWSProbeChecks",
            dependencies: [
                "EWSProbeCore", "EWSProbeTransport", "COpenSSL", "CLDAP", .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: acrossModules
        ),
        .target(
            name: "EWSProbeExposition",
            dependencies: [
                "EWSProbeCore",
                "EWSProbeTransport",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: acrossModules
        ),
        .target(
            name: "EWSProbeServer",
            dependencies: [
                "EWSProbeCore",
                "EWSProbeExposition",
                "EWSProbeTransport",
                "COpenSSL",
                "CCrypt",
                "CMalloc",
                "CSwiftRuntime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: acrossModules
        ),
        // The demo's own sites (an EWS-like farm over HTTPS with its CA) are not part of the server.
        .target(
            name: "EWSProbeDemo",
            dependencies: [
                "EWSProbeChecks",
                "EWSProbeCore",
                "EWSProbeTransport",
                "COpenSSL",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: acrossModules
        ),
        .executableTarget(
            name: "ewsprobe",
            dependencies: [
                "EWSProbeChecks",
                "EWSProbeCore",
                "EWSProbeDemo",
                "EWSProbeExposition",
                "EWSProbeServer",
                "EWSProbeTransport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: acrossModules
        ),
        .testTarget(
            name: "EWSProbeTests",
            dependencies: [
                "EWSProbeChecks", "EWSProbeCore", "EWSProbeDemo", "EWSProbeExposition", "EWSProbeServer",
                "EWSProbeTransport", "COpenSSL", .product(name: "Logging", package: "swift-log"),
            ],
            exclude: [
                "Support/ews_responder.py", "Support/ntlm_backend.py", "Support/hostile_server.py", "Support/ldap_lab.py",
                "Support/hostile_ldap.py", "Support/samba_ad_lab.py", "Support/ldap_lab_selftest.sh", "Support/samba_ad_lab_selftest.sh",
                "Support/LDAP_LAB.md", "Support/proxy_lab.py", "Support/PROXY_LAB.md", "Support/revocation_lab.py",
                "Support/revocation_lab_selftest.sh", "Support/REVOCATION_LAB.md", "Support/autodiscover_lab.py",
                "Support/autodiscover_lab_selftest.sh", "Support/AUTODISCOVER_LAB.md", "Support/cloud_lab.py",
                "Support/cloud_lab_selftest.sh", "Support/CLOUD_LAB.md",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
