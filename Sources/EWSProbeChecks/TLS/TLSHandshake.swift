import EWSProbeCore
import EWSProbeTransport
import Foundation

/// One handshake to one address, pinned, and the chain it presented judged. The chain is read
/// even when it does not verify. The first address's handshake is the probe's shared POST,
/// whose answer `auth_methods` and `forms_auth` judge too; other addresses get a bare handshake.
struct TLSHandshake {
    var judge: TLSFaultJudge
    var revocation: TLSCheck.Revocation
    var revocationJudge: RevocationJudge

    func inspect(_ address: String, _ ctx: ProbeContext, shareConnection: Bool) async -> TLSNodeReport {
        var node = TLSNodeReport(address: address)
        let secured: SecuredConnection
        switch await connect(address, ctx, shareConnection: shareConnection) {
        case .success(let connection): secured = connection
        case .failure(let error):
            if let tunnel = ProxyTunnelFailure(error, ctx) {
                node.faults.append(
                    TLSFault(reason: tunnel.reason, status: .fail, message: tunnel.summary, advice: "see the tcp check"))
                return node
            }
            node.faults.append(judge.handshakeFailed(address, error.kind == .timeout ? "timed out" : error.message))
            return node
        }
        node.version = secured.tls.version
        node.cipher = secured.tls.cipher
        node.handshakeSeconds = max(0, secured.timings.tlsHandshake - secured.timings.connect)
        node.chain = secured.tls.chain
        guard !node.chain.isEmpty else {
            node.faults.append(judge.noCertificate(address))
            return node
        }
        let outcome = ctx.runtime.verifier(caFile: ctx.target.caFile).verify(node.chain)
        node.anchor = outcome.builtChain.count > node.chain.count ? outcome.builtChain.last : nil
        node.faults = judge.faults(of: node, outcome: outcome, host: ctx.target.url.host, now: Date().timeIntervalSince1970)
        node.verified = outcome.trusted && !node.faults.contains { $0.reason == "hostname_mismatch" }
        node.stapled = secured.tls.stapledOCSP != nil
        // Only a trusted chain: an untrusted one already fails, and its URLs are the server's say.
        if revocation == .check, outcome.trusted {
            let inspector = RevocationInspector(ctx, proxyAddress: ctx.target.proxy == nil ? nil : address)
            node.revocation = await inspector.inspect(built: outcome.builtChain, presented: node.chain, staple: secured.tls.stapledOCSP)
            node.revocationChecked = true
        }
        node.faults += revocationJudge.faults(node)
        return node
    }

    /// The handshake's facts, judged on their own: what the HTTP exchange does after the
    /// handshake (a close, a stall) is for the HTTP checks to report.
    func connect(_ address: String, _ ctx: ProbeContext, shareConnection: Bool) async -> Result<SecuredConnection, TransportError> {
        let url = ctx.target.url
        do throws(TransportError) {
            if url.kind == .directory {
                // LDAPS at connect; on ldap://, StartTLS first: the same handshake, judged alike.
                let security: StreamSecurity =
                    url.startsTLS
                    ? .preambleThenTLS(LDAPStartTLSPreamble(), serverName: url.host, legacy: true)
                    : .tls(serverName: url.host, legacy: true)
                return .success(
                    try await ctx.transport.openStream(
                        to: address, port: url.port, security: security, timeout: ctx.remaining, sourceAddress: ctx.target.sourceAddress))
            }
            if shareConnection, ctx.target.plan.sharesAnonymousSOAP {
                return .success(try await ctx.anonymousSOAPConnection(pinnedTo: address))
            }
            var request = ctx.anonymousSOAPRequest(pinnedTo: address)
            request.method = "GET"
            request.body = nil
            return .success(SecuredConnection(try await ctx.transport.exchange(request, policy: .connectOnly)))
        } catch {
            return SecuredConnection(reachedBefore: error, tls: true).map { .success($0) } ?? .failure(error)
        }
    }
}
