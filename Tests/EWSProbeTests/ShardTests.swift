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

    /// The StatefulSet set-up (deploy/kubernetes/statefulset.yaml) as processes: pods named
    /// `ewsprobe-0..2` (POD_NAME, as the downward API sets it) with `--shard auto`, counting the
    /// addresses of the peers' headless Service name (here a hosts file bound over /etc/hosts
    /// in each pod's own mount namespace, answering as the cluster DNS would). Then
    /// `kubectl scale --replicas=4`: a fourth address and a fourth pod, no configuration edit.
    /// Before and after, every target is probed by exactly one pod.
    @Test func statefulSetPodsShardByOrdinalAndRescale() async throws {
        let nginx = try NginxLab(serverBlock: "location / { return 200; }")
        defer { nginx.stop() }
        let dir = try LabNetwork.temporaryDirectory("statefulset")
        let config = dir.appendingPathComponent("fleet.yml")
        let names = (0..<40).map { "mail-\($0)" }
        let targets = names.map { "  - {name: \($0), url: \"http://127.0.0.1:\(nginx.port)/EWS/Exchange.asmx\"}" }
        try """
        global: {interval: 1s, timeout: 1s}
        modules:
          default: {checks: [tcp]}
        targets:
        \(targets.joined(separator: "\n"))
        """.write(to: config, atomically: true, encoding: .utf8)
        let hosts = dir.appendingPathComponent("hosts")
        func peers(_ count: Int) throws {
            // In place (not renamed): the pods see the file through their bind mounts.
            let lines = (1...count).map { "127.0.1.\($0) peers.shard.test" }.joined(separator: "\n")
            try "127.0.0.1 localhost\n\(lines)\n".write(to: hosts, atomically: false, encoding: .utf8)
        }
        try peers(3)
        var pods: [(port: Int, process: LabProcess)] = []
        defer { for pod in pods { pod.process.stop() } }
        func startPod(_ ordinal: Int) throws {
            let port = LabNetwork.freePort()
            let command =
                "mount --bind \(hosts.path) /etc/hosts && exec env POD_NAME=ewsprobe-\(ordinal) \(CommandLineTests.binary) serve"
                + " --config \(config.path) --listen 127.0.0.1:\(port) --shard auto --shard-peers peers.shard.test"
                + " --shard-refresh 1s --log-level error"
            pods.append((port, try LabProcess("/usr/bin/unshare", ["-m", "sh", "-c", command], directory: dir, port: port)))
        }
        for ordinal in 0..<3 { try startPod(ordinal) }

        /// Waits until every pod counts `count` shards and the pods together probe every target
        /// exactly once; returns who probes what.
        func settled(_ count: Int) async throws -> [String: [Int]] {
            var probedBy: [String: [Int]] = [:]
            for _ in 0..<200 {
                probedBy = [:]
                var counted = true
                for (index, pod) in pods.enumerated() {
                    let text = try await ServeTests.get("http://127.0.0.1:\(pod.port)/metrics")
                    counted = counted && ServeTests.value(of: "ewsprobe_shards", in: text) == Double(count)
                    for name in names where ServeTests.value(of: "ewsprobe_probe_runs_total{target=\"\(name)\"}", in: text) >= 1 {
                        probedBy[name, default: []].append(index)
                    }
                }
                if counted, probedBy.count == names.count, probedBy.values.allSatisfy({ $0.count == 1 }) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            return probedBy
        }
        let three = try await settled(3)
        #expect(Set(three.keys) == Set(names), "every target is probed by some pod")
        #expect(three.values.allSatisfy { $0.count == 1 }, "no target is probed by two pods: \(three)")
        let loaded = try ConfigLoader.load(file: config.path)
        for index in 0..<3 {
            #expect(Set(three.filter { $0.value == [index] }.keys) == Set(loaded.shard(index, of: 3).targets.map(\.name)))
        }

        // /probe through a Service reaches any pod: one without the target says so.
        let (name, holder) = try #require(three.first { $0.value == [0] }.map { ($0.key, $0.value[0]) })
        let other = (holder + 1) % 3
        let refused = try await ProbeRuntime.test.transport.exchange(
            HTTPRequest(url: "http://127.0.0.1:\(pods[other].port)/probe?target=\(name)"), policy: .oneShot)
        #expect(
            refused.status == 404 && refused.bodyText.contains("probed by another shard (this is shard \(other) of 3)"),
            "\(refused.bodyText)")

        try peers(4)
        try startPod(3)
        let four = try await settled(4)
        #expect(Set(four.keys) == Set(names), "every target is probed by some pod after the scale-up")
        #expect(four.values.allSatisfy { $0.count == 1 }, "no target is probed by two pods after the scale-up: \(four)")
        for index in 0..<4 {
            #expect(Set(four.filter { $0.value == [index] }.keys) == Set(loaded.shard(index, of: 4).targets.map(\.name)))
        }
    }

    @Test func shardArgumentsAreChecked() throws {
        let file = try LabNetwork.temporaryDirectory("shard-args").appendingPathComponent("empty.yml")
        try "targets: []\n".write(to: file, atomically: true, encoding: .utf8)
        for (arguments, message) in [
            (["--shard", "auto"], "needs --shard-peers"),
            (["--shard", "3/3"], "expected I/N"),
            (["--shard-peers", "peers.example"], "goes with --shard auto"),
            (["--shard", "1/2", "--shard-peers", "peers.example"], "goes with --shard auto"),
        ] {
            let run = try CommandLineTests.run(["serve", "--config", file.path, "--listen", "127.0.0.1:0"] + arguments)
            #expect(run.status == 3, "\(arguments): \(run.stderr)")
            #expect(run.stderr.contains(message), "\(arguments): \(run.stderr)")
        }
        let unnamed = try CommandLineTests.run(
            ["serve", "--config", file.path, "--listen", "127.0.0.1:0", "--shard", "auto", "--shard-peers", "p.example"],
            environment: ["POD_NAME": "ewsprobe"])
        #expect(unnamed.stderr.contains("must end in -ORDINAL"), "\(unnamed.stderr)")
        #expect(ShardAssignment.ordinal(of: "ewsprobe-12") == 12)
        #expect(ShardAssignment.ordinal(of: "web-prober-0") == 0)
        #expect(ShardAssignment.ordinal(of: "ewsprobe") == nil)
    }
}
