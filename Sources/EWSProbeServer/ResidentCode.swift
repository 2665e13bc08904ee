import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon's own code pages, kept to the ones it runs. On a fault in file-backed code the
/// kernel maps the neighbouring pages too (fault-around, 64 KiB), so a process that runs a
/// scattered part of a 30 MB text segment (the Swift runtime, Foundation, NIO, ewsprobe) ends up
/// with most of it resident: 24 MB of a 43 MB start-up RSS. Once the server runs, the text is
/// marked random-access (a fault then maps its own page only) and dropped; what refaults is the
/// code the scheduler, the checks and the exporter use. Clean file pages: nothing is lost.
public enum ResidentCode {
    /// Trims now and then every `period` until the task is cancelled: code that ran once (start-up,
    /// the first interval's census, a reload) leaves again. The pages still in use come back at
    /// a minor fault each, a few milliseconds of CPU per period for the whole working set.
    public static func keepTrimmed(every period: Duration) async {
        while !Task.isCancelled {
            trim()
            try? await Task.sleep(for: period)
        }
    }

    public static func trim() {
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"),
            let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        else { return }
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6, fields[1] == "r-xp", fields[5].trimmingCharacters(in: .whitespaces) == executable else { continue }
            let bounds = fields[0].split(separator: "-").compactMap { UInt(String($0), radix: 16) }
            guard bounds.count == 2, bounds[1] > bounds[0], let start = UnsafeMutableRawPointer(bitPattern: bounds[0]) else { continue }
            let length = Int(bounds[1] - bounds[0])
            _ = madvise(start, length, MADV_RANDOM)
            _ = madvise(start, length, MADV_DONTNEED)
        }
    }
}
