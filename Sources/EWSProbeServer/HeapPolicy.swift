import CMalloc

/// How `serve`'s heap treats large blocks and freed pages. glibc maps a block of 128 KiB or
/// more on its own and unmaps it when freed, but after the first such free it raises that
/// threshold to the block's size, and from then on blocks that large (a scrape's chunks were
/// 256 KiB) come from the threads' arenas, which keep them: RSS grew by 5–7 MB a scrape until
/// it leveled off. A fixed threshold keeps every large block mapped and returned (10,000
/// targets: 144 MB through four scrapes, against 140 → 154 MB); what is allocated often stays
/// below it (a scrape's chunks are 60 KiB), since mapping costs a system call pair each time.
///
/// Smaller blocks stay in the arenas when freed: each wave of runs allocates its connections'
/// buffers and reports and frees most of them, and the arenas keep the pages. glibc gives back
/// only the top of the main arena on its own; `malloc_trim` returns every free page of every
/// arena (under a millisecond at 10,000 targets), so `serve` calls it after each scrape and
/// every few seconds (10,000 targets at 9 minutes, side by side: 145 MB against 150 MB).
public enum HeapPolicy {
    public static func apply() {
        _ = mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    }

    /// Hands the arenas' free pages back to the kernel.
    public static func release() {
        _ = malloc_trim(0)
    }

    /// Releases every `period` until the task is cancelled.
    public static func keepReleasing(every period: Duration) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: period)
            release()
        }
    }
}
