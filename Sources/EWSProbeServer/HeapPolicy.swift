import CMalloc

/// How `serve`'s heap treats large blocks. glibc maps a block of 128 KiB or more on its own and
/// unmaps it when freed, but after the first such free it raises that threshold to the block's
/// size, and from then on a scrape's 256 KiB chunks (41 MB of text at 10,000 targets) come from
/// the threads' arenas, which keep them: RSS grew by 5–7 MB a scrape until it leveled off. A fixed
/// threshold keeps every large block mapped and returned (10,000 targets: 144 MB through four
/// scrapes, against 140 → 154 MB).
public enum HeapPolicy {
    public static func apply() {
        _ = mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    }
}
