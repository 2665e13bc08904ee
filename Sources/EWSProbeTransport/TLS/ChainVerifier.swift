import COpenSSL
import Foundation
import Synchronization

/// Verifies a presented chain against the system's public roots (plus an optional extra CA
/// file) with OpenSSL, collecting *every* error rather than stopping at the first. Key-size and
/// digest errors are left out on purpose: ewsprobe judges those itself, so the verdict does not
/// change with the platform's security level.
public struct ChainVerifier: Sendable {
    public struct Fault: Sendable, Equatable {
        /// OpenSSL's X509_V_ERR code.
        public var code: Int32
        /// Position in the chain OpenSSL built (0 = leaf).
        public var depth: Int32
        public var text: String
    }

    public struct Outcome: Sendable {
        public var faults: [Fault]
        /// Subjects of the chain OpenSSL built, leaf to anchor (the anchor may be from the store).
        public var builtChain: [Certificate]
        public var trusted: Bool { faults.isEmpty }
    }

    /// Codes ewsprobe re-judges from the certificates themselves.
    static let securityLevelCodes: Set<Int32> = [
        X509_V_ERR_EE_KEY_TOO_SMALL, X509_V_ERR_CA_KEY_TOO_SMALL, X509_V_ERR_CA_MD_TOO_WEAK,
    ]

    public var caFile: String?
    /// Verification time (tests pin it); nil means now.
    public var time: Double?
    /// The process's trust stores and the verdicts reached with them.
    let stores: TrustStores

    public init(stores: TrustStores, caFile: String? = nil, time: Double? = nil) {
        self.stores = stores
        self.caFile = caFile
        self.time = time
    }

    /// Collects errors from the verify callback, which runs synchronously inside X509_verify_cert.
    final class Collector: @unchecked Sendable {
        var faults: [Fault] = []
    }

    public func verify(_ chain: [Certificate]) -> Outcome {
        guard !chain.isEmpty else {
            return Outcome(faults: [Fault(code: -1, depth: 0, text: "no certificate")], builtChain: [])
        }
        guard let (store, generation) = stores.makeStore(caFile: caFile) else {
            return Outcome(faults: [Fault(code: -1, depth: 0, text: "cannot load the trust store")], builtChain: [])
        }
        defer { X509_STORE_free(store) }
        // A pinned time (tests) always verifies afresh; so does a chain without fingerprints.
        guard time == nil, chain.allSatisfy({ !$0.sha256.isEmpty }) else { return verify(chain, in: store) }
        let key = VerdictCache.key(chain, storeGeneration: generation)
        let now = Date().timeIntervalSince1970
        if let outcome = stores.verdicts.outcome(for: key, chain: chain, now: now) { return outcome }
        let outcome = verify(chain, in: store)
        stores.verdicts.keep(outcome, for: key, chain: chain, now: now)
        return outcome
    }

    /// `body` with the trust store this verifier judges with (OCSP responders' chains are
    /// verified against the same roots); nil when the store cannot be loaded.
    public func withStore<T>(_ body: (OpaquePointer) -> T) -> T? {
        guard let (store, _) = stores.makeStore(caFile: caFile) else { return nil }
        defer { X509_STORE_free(store) }
        return body(store)
    }

    private func verify(_ chain: [Certificate], in store: OpaquePointer) -> Outcome {
        guard let leaf = chain.first?.object.pointer else {
            return Outcome(faults: [Fault(code: -1, depth: 0, text: "no certificate")], builtChain: [])
        }
        // The stack borrows the certificates: `chain` keeps them alive until verification ends.
        let untrusted = OPENSSL_sk_new_null()
        for certificate in chain.dropFirst() { OPENSSL_sk_push(untrusted, UnsafeRawPointer(certificate.object.pointer)) }
        defer { OPENSSL_sk_free(untrusted) }
        guard let context = X509_STORE_CTX_new() else {
            return Outcome(faults: [Fault(code: -1, depth: 0, text: "out of memory")], builtChain: [])
        }
        defer { X509_STORE_CTX_free(context) }
        X509_STORE_CTX_init(context, store, leaf, untrusted)
        if let time { X509_STORE_CTX_set_time(context, 0, time_t(time)) }
        let collector = Collector()
        let box = Unmanaged.passRetained(collector)
        defer { box.release() }
        X509_STORE_CTX_set_ex_data(context, 0, box.toOpaque())
        X509_STORE_CTX_set_verify_cb(context, chainVerifyCallback)
        _ = X509_verify_cert(context)
        var built: [Certificate] = []
        if let stack = X509_STORE_CTX_get0_chain(context) {
            for index in 0..<OPENSSL_sk_num(stack) {
                guard let raw = OPENSSL_sk_value(stack, index) else { continue }
                // The built chain holds the very objects passed in; only the store's anchor is new.
                let x509 = OpaquePointer(raw)
                built.append(chain.first { $0.object.pointer == x509 } ?? Certificate(x509: x509, pem: nil))
            }
        }
        var unique: [Fault] = []
        for fault in collector.faults where !ChainVerifier.securityLevelCodes.contains(fault.code) && !unique.contains(fault) {
            unique.append(fault)
        }
        return Outcome(faults: unique, builtChain: built)
    }

    /// Adds every PEM certificate of `path`, read without blocking (OpenSSL's own loader would
    /// wait forever on a FIFO, on whichever thread runs the check); false when there is none.
    static func addCertificates(from path: String, to store: OpaquePointer) -> Bool {
        guard case .success(let bytes) = RegularFile.read(path), !bytes.isEmpty else { return false }
        // A memory BIO reads the caller's bytes in place: the whole read stays inside the closure
        // that lends them (an optimised build frees the array right after its last Swift use).
        let added = bytes.withUnsafeBytes { raw -> Int in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return 0 }
            defer { BIO_free(bio) }
            var added = 0
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
                if X509_STORE_add_cert(store, certificate) == 1 { added += 1 }
                X509_free(certificate)
            }
            return added
        }
        ERR_clear_error()  // the loop ends on "no start line"
        return added > 0
    }

    static func pem(_ x509: OpaquePointer) -> String? {
        PEMText.written { PEM_write_bio_X509($0, x509) }
    }
}

/// Records each error and tells OpenSSL to go on, so one run finds them all.
private func chainVerifyCallback(_ ok: Int32, _ context: OpaquePointer?) -> Int32 {
    guard ok == 0, let context, let raw = X509_STORE_CTX_get_ex_data(context, 0) else { return 1 }
    let collector = Unmanaged<ChainVerifier.Collector>.fromOpaque(raw).takeUnretainedValue()
    let code = X509_STORE_CTX_get_error(context)
    collector.faults.append(
        ChainVerifier.Fault(
            code: code, depth: X509_STORE_CTX_get_error_depth(context), text: String(cString: X509_verify_cert_error_string(Int(code)))))
    return 1
}
