import EWSProbeCore
import EWSProbeTransport
import Foundation
import JWTKit

/// An application's certificate credential: the certificate registered on it and the private
/// key that signs its client assertions. Read for every grant (files are rotated).
struct ClientCertificate: Sendable {
    let certificate: Certificate
    let key: Insecure.RSA.PrivateKey
    /// `x5t#S256`: the SHA-256 thumbprint of the DER certificate, base64url.
    let thumbprintS256: String

    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    static func load(certificateFile: String, keyFile: String) -> Result<ClientCertificate, Problem> {
        guard case .success(let certBytes) = RegularFile.read(certificateFile, limit: 256 << 10),
            let certificate = Certificate.parseAll(pem: String(decoding: certBytes, as: UTF8.self)).first
        else {
            return .failure(Problem(description: "certificate_file \(certificateFile) holds no PEM certificate"))
        }
        guard case .success(let keyBytes) = RegularFile.read(keyFile, limit: 64 << 10) else {
            return .failure(Problem(description: "cannot read key_file \(keyFile)"))
        }
        let key: Insecure.RSA.PrivateKey
        do {
            key = try Insecure.RSA.PrivateKey(pem: String(decoding: keyBytes, as: UTF8.self))
        } catch {
            return .failure(Problem(description: "key_file \(keyFile) is not an unencrypted RSA private key (PEM) of 2048 bits or more"))
        }
        // A key that does not belong to the certificate would sign assertions Entra refuses with
        // a misleading "not registered": say what is wrong before anything is sent.
        guard let registered = try? Insecure.RSA.PublicKey(certificatePEM: certificate.pem),
            key.publicKey.derRepresentation == registered.derRepresentation
        else {
            return .failure(Problem(description: "key_file \(keyFile) is not the private key of certificate_file \(certificateFile)"))
        }
        return .success(ClientCertificate(certificate: certificate, key: key, thumbprintS256: Self.base64URL(hex: certificate.sha256)))
    }

    static func base64URL(hex: String) -> String {
        var bytes: [UInt8] = []
        var digits = hex.filter(\.isHexDigit).makeIterator()
        while let high = digits.next(), let low = digits.next() { bytes.append(UInt8(String([high, low]), radix: 16) ?? 0) }
        return base64URL(bytes)
    }

    static func base64URL(_ bytes: some Collection<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
