import EWSProbeCore
import EWSProbeTransport
import Foundation

/// Finds the revocation state of each certificate of a trusted chain below its anchor: the
/// stapled response for the leaf, else the CRL or OCSP responder the certificate names (CRLs
/// first: public CAs must publish them, one serves a whole fleet, and they are kept), the other
/// when the first gives nothing usable. Documents come from the runtime's `RevocationCache`.
struct RevocationInspector {
    let ctx: ProbeContext
    let fetcher: RevocationFetcher
    let verifier: ChainVerifier
    /// Waiting for fetches ends here; the fetches themselves go on for the next run.
    let deadline: ContinuousClock.Instant

    init(_ ctx: ProbeContext, proxyAddress: String?) {
        self.ctx = ctx
        fetcher = RevocationFetcher(ctx, proxyAddress: proxyAddress)
        verifier = ctx.runtime.verifier(caFile: ctx.target.caFile)
        // At most half of what is left (the checks after `tls` still get their turn), never past
        // the run's own deadline.
        deadline = min(ctx.deadline, ContinuousClock.now + max(.milliseconds(500), ctx.remaining / 2))
    }

    /// Every certificate of `built` (leaf first, anchor last) but the anchor, judged at once;
    /// findings that stand are kept for the next runs (`RevocationVerdicts`).
    func inspect(built: [Certificate], presented: [Certificate], staple: [UInt8]?) async -> [CertificateRevocation] {
        guard built.count > 1 else { return [] }
        let verdicts = ctx.runtime.store.value(RevocationVerdicts.self) { RevocationVerdicts() }
        let key = RevocationVerdicts.key(built, staple: staple, caFile: ctx.target.caFile)
        let now = Date().timeIntervalSince1970
        if let findings = verdicts.findings(for: key, now: now) { return findings }
        let findings = await lookUp(built: built, presented: presented, staple: staple)
        verdicts.keep(findings, for: key, now: now)
        return findings
    }

    private func lookUp(built: [Certificate], presented: [Certificate], staple: [UInt8]?) async -> [CertificateRevocation] {
        await withTaskGroup(of: CertificateRevocation.self) { group in
            for index in 0..<(built.count - 1) {
                group.addTask {
                    await self.revocation(
                        of: built[index], issuer: built[index + 1], index: index, presented: presented, staple: index == 0 ? staple : nil)
                }
            }
            var results: [CertificateRevocation] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.index < $1.index }
        }
    }

    func revocation(
        of certificate: Certificate, issuer: Certificate, index: Int, presented: [Certificate], staple: [UInt8]?
    ) async -> CertificateRevocation {
        var result = CertificateRevocation(index: index, subjectCN: certificate.subjectCN)
        var causes: [String] = []
        let now = Date().timeIntervalSince1970
        if let staple {
            result.source = .stapled
            switch await stapled(staple, certificate, issuer, presented, now: now) {
            case .success(let answer) where answer.isStale(at: now):
                result.staleStaple = answer.nextUpdate
                causes.append("the stapled response is past its nextUpdate")
            case .success(let answer) where answer.state != .unknown:
                return Self.decided(result, answer, source: .stapled, url: nil)
            case .success: causes.append("the stapled response does not know the certificate")
            case .failure(let problem): causes.append("stapled: \(problem.message)")
            }
        }
        let sources = RevocationSources(certificate)
        guard !sources.isEmpty || !causes.isEmpty else { return result }
        for url in sources.crlURLs {
            result.source = .crl
            result.url = url
            switch await crl(url, certificate, issuer, now: now) {
            case .success(let answer): return Self.decided(result, answer, source: .crl, url: url)
            case .failure(let problem): causes.append("CRL \(url): \(problem.message)")
            }
        }
        for url in sources.ocspURLs {
            result.source = .ocsp
            result.url = url
            switch await ocsp(url, certificate, issuer, presented, now: now) {
            case .success(let answer) where answer.isStale(at: now): causes.append("OCSP \(url): the response is past its nextUpdate")
            case .success(let answer) where answer.state != .unknown: return Self.decided(result, answer, source: .ocsp, url: url)
            case .success: causes.append("OCSP \(url): the responder does not know the certificate")
            case .failure(let problem): causes.append("OCSP \(url): \(problem.message)")
            }
        }
        if sources.isEmpty { causes.append("the certificate names no CRL distribution point or OCSP responder") }
        result.status = .unknown(causes)
        return result
    }

    static func decided(_ base: CertificateRevocation, _ answer: RevocationAnswer, source: CertificateRevocation.Source, url: String?)
        -> CertificateRevocation
    {
        var result = base
        result.source = source
        result.url = url
        result.nextUpdate = answer.nextUpdate
        switch answer.state {
        case .good: result.status = .good
        case .revoked(let at, let reason): result.status = .revoked(at: at, reason: reason)
        case .unknown: result.status = .unknown(["the \(source.rawValue) answer does not know the certificate"])
        }
        return result
    }

    private func stapled(_ staple: [UInt8], _ certificate: Certificate, _ issuer: Certificate, _ presented: [Certificate], now: Double)
        async -> Result<RevocationAnswer, RevocationProblem>
    {
        // The verdict on the same bytes for the same certificate is kept: verifying a response
        // (a signature and the responder's chain) on every probe would cost more than the rest.
        let key = "stapled \(OCSPResponse.digest(staple)) \(certificate.sha256) \(ctx.target.caFile ?? "")"
        let verifier = self.verifier
        let found = await ctx.runtime.revocation.document(key, source: "stapled", until: deadline, now: now) {
            RevocationFetcher.judged(Self.read(staple, certificate, issuer, presented, verifier), now: Date().timeIntervalSince1970)
        }
        guard case .ocsp(let answer) = found?.fetched.document else {
            return .failure(RevocationProblem("the stapled response was not judged in time"))
        }
        return answer
    }

    private func crl(_ url: String, _ certificate: Certificate, _ issuer: Certificate, now: Double) async
        -> Result<RevocationAnswer, RevocationProblem>
    {
        let fetcher = self.fetcher
        let key = "crl \(url) \(issuer.sha256) \(fetcher.routeKey)"
        let found = await ctx.runtime.revocation.document(key, source: "crl", until: deadline, now: now) {
            await fetcher.crl(url, issuer: issuer)
        }
        switch found?.fetched.document {
        case .crl(let crl): return crl.answer(for: certificate, issuer: issuer, now: now)
        case .failed(let problem): return .failure(problem)
        default: return .failure(RevocationProblem("no answer within the run's time (the fetch goes on for the next run)"))
        }
    }

    private func ocsp(_ url: String, _ certificate: Certificate, _ issuer: Certificate, _ presented: [Certificate], now: Double) async
        -> Result<RevocationAnswer, RevocationProblem>
    {
        guard let request = OCSPResponse.request(for: certificate, issuer: issuer) else {
            return .failure(RevocationProblem("cannot encode the OCSP request"))
        }
        let key = "ocsp \(url) \(issuer.sha256) \(certificate.serialHex) \(ctx.target.caFile ?? "") \(fetcher.routeKey)"
        let (fetcher, verifier) = (self.fetcher, self.verifier)
        let found = await ctx.runtime.revocation.document(key, source: "ocsp", until: deadline, now: now) {
            await fetcher.ocsp(url, request: request) { Self.read($0, certificate, issuer, presented, verifier) }
        }
        switch found?.fetched.document {
        case .ocsp(let answer): return answer
        case .failed(let problem): return .failure(problem)
        default: return .failure(RevocationProblem("no answer within the run's time (the fetch goes on for the next run)"))
        }
    }

    static func read(
        _ bytes: [UInt8], _ certificate: Certificate, _ issuer: Certificate, _ presented: [Certificate], _ verifier: ChainVerifier
    )
        -> Result<RevocationAnswer, RevocationProblem>
    {
        verifier.withStore { store in
            OCSPResponse.read(
                bytes, certificate: certificate, issuer: issuer, untrusted: presented, store: store, now: Date().timeIntervalSince1970)
        } ?? .failure(RevocationProblem("cannot load the trust store"))
    }
}
