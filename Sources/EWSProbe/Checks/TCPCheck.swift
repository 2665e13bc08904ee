import Foundation

/// `tcp`: a TCP connection to the URL's port on every resolved address, each measured on its own.
/// The cloud service may land on any address, so by default one bad address fails the check.
public struct TCPCheck: Check {
    public static let name = "tcp"

    public enum PartialFailure: String, Sendable, CaseIterable {
        case fail, warn
    }

    /// What one unreachable address (of several) counts as.
    public var partialFailure: PartialFailure = .fail
    public var connectTimeout: Duration?

    public init() {}

    public init(settings: YAMLSection) throws {
        for (key, value) in try settings.entries(allowed: ["partial_failure", "connect_timeout"]) {
            switch key {
            case "partial_failure": partialFailure = try value.choice(PartialFailure.self)
            case "connect_timeout": connectTimeout = try value.duration(.timeout)
            default: break
            }
        }
    }

    struct Attempt: Sendable {
        var address: String
        var seconds: Double
        var failure: TransportError?

        var reason: String? {
            guard let failure else { return nil }
            switch failure.kind {
            case .refused: return "refused"
            case .timeout: return "timeout"
            default: return "unreachable"
            }
        }
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        let url = ctx.target.url
        let resolution = await ctx.addresses()
        guard !resolution.addresses.isEmpty else {
            return CheckResult(
                check: Self.name, status: .skip, reason: "no_addresses",
                summary: "no address to connect to (dns failed)", durationSeconds: timer.elapsed)
        }
        let timeout = min(connectTimeout ?? ctx.remaining, ctx.remaining)
        // One connection per probe where the module sends the SOAP POST anyway (as blackbox's
        // http prober does): the first address's connect is that exchange's.
        let shareFirst = connectTimeout == nil && ctx.target.plan.sharesAnonymousSOAP
        // Plain http:// with CONNECT_ONLY opens the TCP connection and nothing else.
        let connectURL = "http://\(IPAddress.bracketed(url.host)):\(url.port)/"
        @Sendable func attempt(_ index: Int, _ address: String) async -> Attempt {
            var request = HTTPRequest(url: connectURL, timeout: timeout, pinnedAddress: address)
            request.sourceAddress = ctx.target.sourceAddress
            do throws(TransportError) {
                // The shared POST's connect, without waiting for its answer.
                let timings =
                    shareFirst && index == 0
                    ? try await ctx.anonymousSOAPConnection(pinnedTo: address).timings
                    : try await ctx.transport.exchange(request, policy: .connectOnly).timings
                return Attempt(address: address, seconds: timings.connect - timings.nameLookup)
            } catch {
                // A failure after the connect (TLS, HTTP) is not this check's to judge.
                if error.kind != .cancelled, error.timings.connect > 0 {
                    return Attempt(address: address, seconds: error.timings.connect - error.timings.nameLookup)
                }
                return Attempt(address: address, seconds: error.timings.total, failure: error)
            }
        }
        // One address (the usual case) needs no task group: each child task is a thread hop.
        let attempts =
            resolution.addresses.count == 1
            ? [await attempt(0, resolution.addresses[0])]
            : await withTaskGroup(of: (Int, Attempt).self) { group in
                for (index, address) in resolution.addresses.enumerated() {
                    group.addTask { (index, await attempt(index, address)) }
                }
                var collected: [(Int, Attempt)] = []
                for await item in group { collected.append(item) }
                return collected.sorted { $0.0 < $1.0 }.map { $0.1 }
            }

        var result = CheckResult(check: Self.name, status: .pass, summary: "", durationSeconds: timer.elapsed)
        for attempt in attempts {
            let endpoint = IPAddress.endpoint(attempt.address, url.port)
            result.measurements.append(
                Measurement(
                    "ewsprobe_tcp_connect_success", attempt.failure == nil ? 1 : 0,
                    help: "Whether a TCP connection to this address succeeded.", labels: [("address", attempt.address)]))
            if attempt.failure == nil {
                result.measurements.append(
                    Measurement(
                        "ewsprobe_tcp_connect_seconds", attempt.seconds, help: "Time the TCP connect to this address took.",
                        labels: [("address", attempt.address)]))
                result.trace.append("connect \(endpoint): ok in \(Self.ms(attempt.seconds))")
            } else {
                result.trace.append("connect \(endpoint): \(attempt.reason!) (\(attempt.failure!.message))")
            }
        }
        result.details = [
            ("port", .int(url.port)),
            (
                "addresses",
                .array(
                    attempts.map { attempt in
                        var pairs: [(String, JSONValue)] = [
                            ("address", .string(attempt.address)),
                            ("status", .string(attempt.failure == nil ? "pass" : "fail")),
                            ("connect_seconds", .number(attempt.seconds)),
                        ]
                        if let reason = attempt.reason {
                            pairs.append(("reason", .string(reason)))
                            pairs.append(("error", .string(attempt.failure!.message)))
                        }
                        return .object(pairs)
                    })
            ),
        ]
        let failed = attempts.filter { $0.failure != nil }
        if failed.isEmpty {
            let slowest = attempts.map(\.seconds).max() ?? 0
            result.summary =
                attempts.count == 1
                ? "port \(url.port) open on \(attempts[0].address) (\(Self.ms(slowest)))"
                : "port \(url.port) open on all \(attempts.count) addresses (slowest \(Self.ms(slowest)))"
            return result
        }
        result.reason = failed[0].reason
        let names = failed.map { "\($0.address) \($0.reason!)" }.joined(separator: ", ")
        if failed.count == attempts.count {
            result.status = .fail
            result.summary =
                attempts.count == 1
                ? "cannot connect to port \(url.port) on \(names)"
                : "port \(url.port) unreachable on every address: \(names)"
        } else {
            result.status = partialFailure == .fail ? .fail : .warn
            result.summary = "port \(url.port) unreachable on \(failed.count) of \(attempts.count) addresses: \(names)"
        }
        return result
    }

    static func ms(_ seconds: Double) -> String {
        NumberText.fixed(seconds * 1000, 1) + " ms"
    }
}
