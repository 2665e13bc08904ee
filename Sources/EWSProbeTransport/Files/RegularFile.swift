import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads files named by configuration without ever blocking: only regular files, opened
/// non-blocking (a FIFO would otherwise wait for a writer forever, `/dev/zero` never ends) and
/// read up to a size limit.
public enum RegularFile {
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Why `path` cannot be used as a file to read, or nil when it can.
    public static func problem(_ path: String, limit: Int = 16 << 20) -> Problem? {
        var info = stat()
        guard stat(path, &info) == 0 else { return Problem(description: "cannot read \(path) (\(String(cString: strerror(errno))))") }
        return problem(info, path: path, limit: limit)
    }

    public static func isRegular(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    /// The whole file, checked on the opened descriptor so a swap after the check cannot block.
    public static func read(_ path: String, limit: Int = 16 << 20) -> Result<[UInt8], Problem> {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return .failure(Problem(description: "cannot read \(path) (\(String(cString: strerror(errno))))")) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(Problem(description: "cannot read \(path)")) }
        if let problem = problem(info, path: path, limit: limit) { return .failure(problem) }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            filled += count
        }
        return .success(Array(bytes[0..<filled]))
    }

    private static func problem(_ info: stat, path: String, limit: Int) -> Problem? {
        guard info.st_mode & S_IFMT == S_IFREG else { return Problem(description: "\(path) is not a regular file") }
        guard info.st_size <= limit else { return Problem(description: "\(path) is larger than \(limit >> 20) MiB") }
        return nil
    }
}
