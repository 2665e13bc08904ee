import NIOCore
import NIOPosix

/// Where Swift concurrency runs the process's tasks.
public enum ConcurrencyExecutor {
    /// Runs every task on NIO's event loop threads instead of the default pool: a `/probe`
    /// handler then runs on the thread that read its request, not a thread hop away each way
    /// (see the README's benchmarks). Called first thing in `main`;
    /// false if the hook could not be installed (the default pool is used then).
    @discardableResult
    public static func useEventLoops() -> Bool {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
