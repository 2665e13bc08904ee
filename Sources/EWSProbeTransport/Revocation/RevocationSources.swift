import COpenSSL

/// Where a certificate says its revocation state is published: the CRL distribution points'
/// URIs and the OCSP responders of its Authority Information Access, as written (http only is
/// fetched; `ldap://` CDPs, common in Active Directory PKIs, are reported and left).
public struct RevocationSources: Sendable, Equatable {
    public var crlURLs: [String]
    public var ocspURLs: [String]

    public init(crlURLs: [String] = [], ocspURLs: [String] = []) {
        self.crlURLs = crlURLs
        self.ocspURLs = ocspURLs
    }

    public var isEmpty: Bool { crlURLs.isEmpty && ocspURLs.isEmpty }

    /// At most eight of each: a certificate naming thousands is not worth more than a few tries.
    static let limit = 8

    public init(_ certificate: Certificate) {
        let x509 = certificate.object.pointer
        crlURLs = Self.distributionPoints(x509)
        ocspURLs = Self.responders(x509)
    }

    static func distributionPoints(_ x509: OpaquePointer) -> [String] {
        guard let raw = X509_get_ext_d2i(x509, NID_crl_distribution_points, nil, nil) else { return [] }
        let points = OpaquePointer(raw)
        defer { CRL_DIST_POINTS_free(points) }
        var urls: [String] = []
        for index in 0..<OPENSSL_sk_num(points) {
            guard let point = OPENSSL_sk_value(points, index)?.assumingMemoryBound(to: DIST_POINT.self),
                let name = point.pointee.distpoint, name.pointee.type == 0, let names = name.pointee.name.fullname
            else { continue }
            urls += uris(names)
        }
        return Array(urls.prefix(limit))
    }

    static func responders(_ x509: OpaquePointer) -> [String] {
        guard let stack = X509_get1_ocsp(x509) else { return [] }
        defer { X509_email_free(stack) }
        var urls: [String] = []
        for index in 0..<min(OPENSSL_sk_num(stack), Int32(limit)) {
            guard let text = OPENSSL_sk_value(stack, index) else { continue }
            urls.append(String(cString: UnsafePointer<CChar>(text.assumingMemoryBound(to: CChar.self))))
        }
        return urls
    }

    static func uris(_ names: OpaquePointer) -> [String] {
        var urls: [String] = []
        for index in 0..<OPENSSL_sk_num(names) {
            guard let name = OPENSSL_sk_value(names, index)?.assumingMemoryBound(to: GENERAL_NAME.self),
                name.pointee.type == GEN_URI, let uri = name.pointee.d.uniformResourceIdentifier
            else { continue }
            urls.append(Certificate.asn1Text(uri))
        }
        return urls
    }
}
