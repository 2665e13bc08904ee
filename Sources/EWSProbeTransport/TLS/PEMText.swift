import COpenSSL

/// PEM text from one of OpenSSL's `PEM_write_bio_*` functions, through a memory BIO.
public enum PEMText {
    public static func written(by write: (OpaquePointer) -> Int32) -> String? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { return nil }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = BIO_read(bio, &buffer, Int32(buffer.count))
            if count <= 0 { break }
            out += buffer[0..<Int(count)]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
