// libFuzzer entry for the configuration loader: any text must load or fail with a located
// ConfigError, never trap. Includes resolve against a scratch directory the input cannot name.
import EWSProbeChecks
import EWSProbeCore
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let config = try ConfigLoader.load(
            yaml: text, name: "fuzz.yml", baseDirectory: "/nonexistent-fuzz-dir", registry: .builtin)
        // A loaded configuration must be usable: sharding and module lookups walk all of it.
        _ = config.shard(1, of: 3).targets.count
        for target in config.targets { _ = (target.pin, target.module.checkNames) }
    } catch let error as ConfigError {
        _ = error.description
    } catch {
        fatalError("the loader threw something other than a ConfigError: \(error)")
    }
    return 0
}
