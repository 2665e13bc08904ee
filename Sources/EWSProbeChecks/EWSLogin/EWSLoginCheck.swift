import EWSProbeCore
import EWSProbeTransport
import Foundation

/// `ews_login`: the "Mailbox Check". The service account logs in with Basic and reads the inbox
/// of the `mailbox_check` mailbox through impersonation (or its own inbox without one), as the
/// cloud service's "Test Connection" does. Credentials are only ever sent over a connection whose
/// certificate verified.
public struct EWSLoginCheck: Check {
    public static let name = "ews_login"

    public init() {}

    public init(settings: YAMLSection) throws {
        _ = try settings.entries(allowed: [])
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        let target = ctx.target
        guard let username = target.username, target.password != nil else {
            return CheckResult(check: Self.name, status: .skip, summary: "no credentials configured")
        }
        var result = CheckResult(check: Self.name, status: .pass, summary: "")
        // The loader and the CLI refuse such targets; this holds for targets built otherwise.
        if let refusal = CredentialPolicy.refusal(for: target.url) {
            result.status = .fail
            result.reason = "tls_untrusted"
            result.summary = "credentials not sent: \(refusal)"
            result.measurements.append(Self.success(false))
            return result
        }
        let secret: Secret
        do {
            secret = try ctx.password()!
        } catch {
            result.status = .fail
            result.reason = "credentials_unavailable"
            result.summary = "\(error)"
            return result
        }
        guard let address = await AddressFanOut.addresses(ctx)?.first else { return AddressFanOut.noAddresses(Self.name, "ask") }
        let mailbox = target.mailboxCheck
        let request = Self.loginRequest(ctx, address: address, username: username, secret: secret)
        let what = mailbox.map { "the inbox of \($0) as \(username) (impersonation)" } ?? "the inbox of \(username)"
        result.trace.append("POST GetFolder inbox as \(username)" + (mailbox.map { ", impersonating \($0)" } ?? ""))
        let response: HTTPResponse
        do {
            response = try await ctx.transport.exchange(request, policy: .oneShot)
        } catch {
            result.status = .fail
            result.durationSeconds = timer.elapsed
            if let tunnel = ProxyTunnelFailure(error, ctx) {
                result.reason = tunnel.reason
                result.summary = "credentials not sent: \(tunnel.summary)"
            } else if error.kind == .tls {
                result.reason = "tls_untrusted"
                result.summary = "credentials not sent: the TLS handshake or certificate verification failed (\(error.message))"
            } else {
                result.reason = "request_failed"
                result.summary = "reading \(what) failed: \(error.message)"
            }
            result.measurements.append(Self.success(false))
            return result
        }
        result.trace.append("-> \(response.status) \(response.header("Content-Type") ?? "")")
        result = EWSLoginVerdict.judge(response, what: what, base: result)
        result.durationSeconds = timer.elapsed
        if result.status == .pass, let suffix = UserPrincipalName.localOnlySuffix(of: username) {
            result.status = .warn
            result.reason = "local_upn_suffix"
            result.summary += "; but the UPN suffix \(suffix) is local-only (use the public UPN)"
        }
        result.measurements.append(Self.success(result.status != .fail))
        return result
    }

    static func success(_ worked: Bool) -> Measurement {
        Measurement("ewsprobe_ews_login_success", worked ? 1 : 0, help: "Whether the EWS login (and impersonation) worked.")
    }

    /// GetFolder on the inbox with Basic credentials, impersonating the Mailbox Check address
    /// when one is set. Sent on a fresh connection: never on one where another check saw an
    /// unverified certificate.
    static func loginRequest(_ ctx: ProbeContext, address: String, username: String, secret: Secret) -> HTTPRequest {
        let mailbox = ctx.target.mailboxCheck
        var headers = [
            ("Content-Type", "text/xml; charset=utf-8"),
            ("Authorization", "Basic " + Data("\(username):\(secret.reveal())".utf8).base64EncodedString()),
        ]
        if let mailbox { headers.append(("X-AnchorMailbox", mailbox)) }
        var request = ctx.request(method: "POST", pinnedTo: address, headers: headers, body: SOAPEnvelope.getFolder(impersonating: mailbox))
        request.bodyLimit = 256 * 1024
        return request
    }
}
