// swift-tools-version: 6.0
// The config loader's libFuzzer harness. A package of its own because it links the whole
// EWSProbe library (Yams, libcurl, OpenSSL): scripts/fuzz.sh config_loader builds it with
// `swift build --sanitize=fuzzer --sanitize=address`, where libFuzzer supplies main.
import PackageDescription

let package = Package(
    name: "ConfigFuzz",
    dependencies: [.package(name: "ewsprobe", path: "../..")],
    targets: [
        .executableTarget(name: "FuzzConfig", dependencies: [.product(name: "EWSProbe", package: "ewsprobe")])
    ],
    swiftLanguageModes: [.v6]
)
