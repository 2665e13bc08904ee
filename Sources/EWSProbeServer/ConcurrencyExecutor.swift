import CSwiftRuntime
import NIOCore
import NIOPosix

/// Where Swift concurrency runs the process's tasks.
public enum ConcurrencyExecutor {
    /// The runtime's signature for the hook: the job, and the enqueue it replaces.
    typealias EnqueueHook = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void

    /// Runs every task on NIO's event loop threads instead of the default pool: a `/probe`
    /// handler then runs on the thread that read its request, not a thread hop away each way
    /// (see the README's benchmarks). Called first thing in `main`. NIO's own installer finds
    /// the runtime's hook with dlsym, which fails in the release build (the runtime is linked
    /// statically and exports nothing), so the hook is set here through its symbol. False when
    /// something else set it first (the default pool is used then).
    @discardableResult
    public static func useEventLoops() -> Bool {
        let hook: EnqueueHook = { job, _ in
            // `any()` stays on the calling thread's loop when it is one: no hop at all.
            MultiThreadedEventLoopGroup.singleton.any().enqueue(ExecutorJob(job))
        }
        return ewsprobe_install_enqueue_hook(unsafeBitCast(hook, to: UnsafeMutableRawPointer.self))
    }

    /// Whether the calling task runs on one of NIO's event loops.
    public static var onEventLoop: Bool { MultiThreadedEventLoopGroup.currentEventLoop != nil }
}
