import EWSProbeCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// In front of every endpoint: the web config's Basic auth and rate limit, a cap on request
/// bodies (no endpoint takes one beyond a reload trigger) and the configured response headers.
struct WebGuard: RouterMiddleware {
    typealias Context = BasicRequestContext
    static let maxBodyBytes = 64 * 1024

    let verifier: BcryptVerifier?
    let limiter: TokenBucket?
    let headers: [(HTTPField.Name, String)]

    init(_ config: WebConfig, pool: BoundedWorkerPool) {
        verifier = config.users.isEmpty ? nil : BcryptVerifier(users: config.users, pool: pool)
        limiter = config.rateLimit.map { TokenBucket(interval: $0.interval, burst: $0.burst) }
        headers = config.headers.compactMap { name, value in HTTPField.Name(name).map { ($0, value) } }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await guarded(request, context: context, next: next)
        for (name, value) in headers { response.headers[name] = value }
        return response
    }

    private func guarded(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let limiter, !limiter.take() {
            return ExporterServer.text("rate limit exceeded\n", status: .tooManyRequests)
        }
        if let verifier {
            let verdict: BcryptVerifier.Verdict
            if let (user, password) = Self.basicCredentials(request.headers[.authorization]) {
                verdict = await verifier.verify(user: user, password: password)
            } else {
                verdict = .rejected
            }
            switch verdict {
            case .accepted: break
            case .busy:
                var response = ExporterServer.text("too many authentication attempts at once\n", status: .serviceUnavailable)
                response.headers[.retryAfter] = "1"
                return response
            case .rejected:
                var response = ExporterServer.text("authentication required\n", status: .unauthorized)
                response.headers[.wwwAuthenticate] = "Basic realm=\"ewsprobe\""
                return response
            }
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > Self.maxBodyBytes {
            return ExporterServer.text("request body too large\n", status: .contentTooLarge)
        }
        return try await next(request, context)
    }

    static func basicCredentials(_ header: String?) -> (String, String)? {
        guard let header, header.count <= 4096 else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic", let data = Data(base64Encoded: String(parts[1])),
            let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }
}

/// A token bucket: `burst` requests at once, refilled one per `interval`.
final class TokenBucket: Sendable {
    private struct State {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }
    private let state: Mutex<State>
    private let perSecond: Double
    private let burst: Double

    init(interval: Duration, burst: Int) {
        perSecond = 1 / interval.seconds
        self.burst = Double(burst)
        state = Mutex(State(tokens: Double(burst), updated: .now))
    }

    func take() -> Bool {
        state.withLock { state in
            let now = ContinuousClock.now
            state.tokens = min(burst, state.tokens + (now - state.updated).seconds * perSecond)
            state.updated = now
            guard state.tokens >= 1 else { return false }
            state.tokens -= 1
            return true
        }
    }
}

/// Bounds the on-demand probes of `/probe`: each one sends traffic to a target, so a scrape
/// storm must not become a flood. Past the limit, callers get 429 at once.
final class OnDemandLimit: Sendable {
    private let running = Mutex(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func run<T: Sendable>(_ work: () async -> T) async -> T? {
        let admitted = running.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
        guard admitted else { return nil }
        defer { running.withLock { $0 -= 1 } }
        return await work()
    }
}
