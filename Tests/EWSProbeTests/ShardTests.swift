import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// The README's shard set-up as processes: three `serve --shard I/3` on one configuration file
/// must together probe every target, each by exactly one of them.
@Suite(.serialized) struct ShardTests {
    @Test func threeShardsProbeEveryTargetExactlyOnce() async throws {
        let nginx = try NginxLab(serverBlock: "location / { return 200; }")
        defer { nginx.stop() }
        let dir = try LabNetwork.temporaryDirectory("shards")
        let config = dir.appendingPathComponent("fleet.yml")
        let names = (0..<30).map { "mail-\($0)" }
        let targets = names.map { "  - {name: \($0), url: \"http://127.0.0.1:\(nginx.port)/EWS/Exchange.asmx\"}" }
        try """
        global: {interval: 1s, timeout: 1s}
        modules:
          default: {checks: [tcp]}
        targets:
        \(targets.joined(separator: "\n"))
        """.write(to: config, atomically: true, encoding: .utf8)
        var ports: [Int] = []
        var shards: [LabProcess] = []
        defer { for shard in shards { shard.stop() } }
        for index in 0..<3 {
            let port = LabNetwork.freePort()
            ports.append(port)
            shards.append(
                try LabProcess(
                    CommandLineTests.binary,
                    ["serve", "--config", config.path, "--listen", "127.0.0.1:\(port)", "--shard", "\(index)/3", "--log-level", "error"],
                    directory: dir, port: port))
        }
        // Which targets each instance has run (a run counter above zero), once all 30 have run.
        var probedBy: [String: [Int]] = [:]
        for _ in 0..<100 {
            probedBy = [:]
            for (index, port) in ports.enumerated() {
                let text = try await ServeTests.get("http://127.0.0.1:\(port)/metrics")
                for name in names where ServeTests.value(of: "ewsprobe_probe_runs_total{target=\"\(name)\"}", in: text) >= 1 {
                    probedBy[name, default: []].append(index)
                }
                // A target outside the shard is not even a series there.
                for name in names where !text.contains("ewsprobe_target_info{target=\"\(name)\"") {
                    #expect(ServeTests.value(of: "ewsprobe_probe_runs_total{target=\"\(name)\"}", in: text) == -1)
                }
            }
            if probedBy.count == names.count { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(Set(probedBy.keys) == Set(names), "every target is probed by some shard")
        #expect(probedBy.values.allSatisfy { $0.count == 1 }, "no target is probed by two shards: \(probedBy)")
        let perShard = (0..<3).map { index in probedBy.values.filter { $0 == [index] }.count }
        #expect(perShard.allSatisfy { $0 > 0 }, "each shard holds a share: \(perShard)")
        // The shards agree with the library's partition of the same file.
        let loaded = try ConfigLoader.load(file: config.path)
        for index in 0..<3 {
            let expected = Set(loaded.shard(index, of: 3).targets.map(\.name))
            #expect(Set(probedBy.filter { $0.value == [index] }.keys) == expected)
        }
    }
}
