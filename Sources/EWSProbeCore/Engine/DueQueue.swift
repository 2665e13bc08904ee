/// A binary min-heap of (due time, target index): the dispatcher's schedule.
struct DueQueue {
    private var heap: [(due: ContinuousClock.Instant, index: Int)] = []

    mutating func push(_ due: ContinuousClock.Instant, _ index: Int) {
        heap.append((due, index))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].due < heap[parent].due else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// The earliest entry, left in place.
    var first: (due: ContinuousClock.Instant, index: Int)? { heap.first }

    mutating func popFirst() -> (ContinuousClock.Instant, Int)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let first = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].due < heap[smallest].due { smallest = left }
            if right < heap.count, heap[right].due < heap[smallest].due { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (first.due, first.index)
    }
}
