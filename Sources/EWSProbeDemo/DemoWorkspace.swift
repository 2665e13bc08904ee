import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where the demo keeps the files its peers and targets read: the CA certificates, the
/// directory's database, the proxy's password, the cloud client's secret and key. One private
/// directory per demo process, removed when the demo ends, so a demo leaves no secrets behind.
/// A demo that was killed cannot remove its own; each start removes those of demos that no
/// longer run.
public enum DemoWorkspace {
    static let prefix = "ewsprobe-demo-run-"

    public static let directory: URL = {
        let base = FileManager.default.temporaryDirectory
        sweep(base)
        let url = base.appendingPathComponent("\(prefix)\(getpid())")
        try? FileManager.default.removeItem(at: url)
        try? FileManager.default.createDirectory(
            at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return url
    }()

    public static func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

    public static func remove() { try? FileManager.default.removeItem(at: directory) }

    /// Workspaces of demos that are gone (the process does not exist; another user's live demo
    /// answers EPERM and stays).
    static func sweep(_ base: URL) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: base.path) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid > 0, pid != getpid(), kill(pid, 0) != 0, errno == ESRCH
            else { continue }
            try? FileManager.default.removeItem(at: base.appendingPathComponent(name))
        }
    }
}
