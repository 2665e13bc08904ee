import CCurl
import Foundation
import Synchronization

/// Runs every libcurl transfer of the process on one dedicated thread through the multi
/// interface, and bridges each to async/await. Blocking curl work never touches Swift's
/// cooperative pool, and thousands of probes cost file descriptors, not threads.
public final class CurlEventLoop: Sendable {
    private struct Queue {
        var submissions: [CurlTransfer] = []
        var cancellations: [CurlTransfer] = []
        var shareReleases: [UnsafeSendable<UnsafeMutableRawPointer>] = []
    }

    private let multi: UnsafeSendable<UnsafeMutableRawPointer>
    private let queue = Mutex(Queue())

    /// Transfers waiting for their handshake facts (see `HandshakeRegistry`).
    let handshakes = HandshakeRegistry()

    /// Starts the loop's thread; `ProbeRuntime` makes the process's one loop.
    package init() {
        _ = CurlEventLoop.globalInit
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init failed") }
        self.multi = UnsafeSendable(multi)
        ServiceThread.start("ews-curl") { [self] in self.run() }
    }

    /// curl_global_init must run once before any other curl call, on one thread.
    private static let globalInit: Void = {
        curl_global_init(EWSCURL_GLOBAL_ALL)
    }()

    /// Runs one exchange; a pooled scope keeps connections for later exchanges of the same probe.
    func perform(_ request: HTTPRequest, policy: ConnectionPolicy) async throws(TransportError) -> HTTPResponse {
        let transfer = CurlTransfer(request: request, policy: policy, handshakes: handshakes)
        let result: Result<HTTPResponse, TransportError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                transfer.setContinuation(continuation)
                queue.withLock { $0.submissions.append(transfer) }
                curl_multi_wakeup(multi.value)
            }
        } onCancel: {
            queue.withLock { $0.cancellations.append(transfer) }
            curl_multi_wakeup(multi.value)
        }
        return try result.get()
    }

    /// A share handle can only be destroyed on the loop thread, after its transfers ended.
    func releaseShare(_ share: UnsafeMutableRawPointer) {
        let handle = UnsafeSendable(share)
        queue.withLock { $0.shareReleases.append(handle) }
        curl_multi_wakeup(multi.value)
    }

    // MARK: loop thread only

    private func run() {
        var running: [UnsafeMutableRawPointer: CurlTransfer] = [:]
        var stillRunning: Int32 = 0
        while true {
            let (submissions, cancellations, releases) = queue.withLock { q in
                defer {
                    q.submissions.removeAll(keepingCapacity: true)
                    q.cancellations.removeAll(keepingCapacity: true)
                    q.shareReleases.removeAll(keepingCapacity: true)
                }
                return (q.submissions, q.cancellations, q.shareReleases)
            }
            for transfer in submissions {
                if transfer.isCancelled { continue }
                if let easy = transfer.start() {
                    running[easy] = transfer
                    curl_multi_add_handle(multi.value, easy)
                }
            }
            for transfer in cancellations {
                transfer.markCancelled()
                if let easy = transfer.easy, running.removeValue(forKey: easy) != nil {
                    curl_multi_remove_handle(multi.value, easy)
                    transfer.finish(code: CURLE_ABORTED_BY_CALLBACK, cancelled: true)
                }
            }
            for share in releases {
                curl_share_cleanup(share.value)
            }
            curl_multi_perform(multi.value, &stillRunning)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi.value, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                let code = message.pointee.data.result
                if let transfer = running.removeValue(forKey: easy) {
                    transfer.captureFacts()
                    curl_multi_remove_handle(multi.value, easy)
                    transfer.finish(code: code, cancelled: false)
                }
            }
            curl_multi_poll(multi.value, nil, 0, 1000, nil)
        }
    }
}
