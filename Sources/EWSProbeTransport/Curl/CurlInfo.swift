import CCurl

/// What libcurl knows about a finished transfer (curl_easy_getinfo), typed.
struct CurlInfo {
    let handle: UnsafeMutableRawPointer

    /// A `_T` time in seconds (libcurl gives microseconds).
    func seconds(_ info: CURLINFO) -> Double {
        var value: curl_off_t = 0
        _ = ewscurl_getinfo_off(handle, info, &value)
        return Double(value) / 1_000_000
    }

    func long(_ info: CURLINFO) -> Int {
        var value = 0
        _ = ewscurl_getinfo_long(handle, info, &value)
        return value
    }

    func string(_ info: CURLINFO) -> String {
        var pointer: UnsafeMutablePointer<CChar>?
        _ = ewscurl_getinfo_str(handle, info, &pointer)
        return pointer.map { String(cString: $0) } ?? ""
    }
}
