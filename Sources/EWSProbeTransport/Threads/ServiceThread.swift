import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Starts one of ewsprobe's own long-lived threads under a name `top -H` and `perf` show.
/// Foundation's `Thread.name` does not reach the kernel on Linux: the thread would carry the
/// name of whichever thread created it (a concurrency pool thread).
public enum ServiceThread {
    /// `name` is cut to the kernel's 15 characters.
    public static func start(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            nameCurrentThread(name)
            body()
        }
        thread.name = name
        thread.start()
    }

    /// pthread_setname_np is not imported from Glibc; the kernel takes the name from this file too.
    private static func nameCurrentThread(_ name: String) {
        #if canImport(Glibc)
            let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { return }
            let bytes = Array(name.utf8.prefix(15))
            _ = write(fd, bytes, bytes.count)
            close(fd)
        #endif
    }
}
