/// One BER element (tag, length, contents) read from untrusted bytes: definite lengths only, as
/// LDAP requires, and bounded, so a lying length can neither trap nor make us wait for gigabytes.
public struct BERElement: Sendable, Equatable {
    public var tag: UInt8
    /// The element's contents within the buffer it was read from.
    public var contents: Range<Int>
    /// Where the element ends in that buffer (the next element starts here).
    public var end: Int

    public enum Failure: Error, Equatable {
        /// More bytes are needed to read this element.
        case incomplete
        /// Not BER as LDAP sends it (an indefinite or oversized length, a multi-byte tag).
        case malformed(String)
    }

    /// The largest element accepted: an LDAP answer to anything ewsprobe sends is far smaller.
    public static let maxLength = 1 << 20

    /// The element starting at `offset` of `bytes`, within the first `limit` bytes (all of them
    /// when nil: what has arrived so far).
    public static func read(_ bytes: [UInt8], at offset: Int = 0, limit: Int? = nil) throws(Failure) -> BERElement {
        let available = min(limit ?? bytes.count, bytes.count)
        guard offset < available else { throw .incomplete }
        let tag = bytes[offset]
        guard tag & 0x1F != 0x1F else { throw .malformed("multi-byte tag") }
        guard offset + 1 < available else { throw .incomplete }
        let first = bytes[offset + 1]
        var length = 0
        var start = offset + 2
        if first < 0x80 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7F)
            guard count > 0 else { throw .malformed("indefinite length") }
            // Active Directory writes every length in four octets (30 84 00 00 00 28 ...), with
            // leading zeros; more than eight is not a length any LDAP server sends.
            guard count <= 8 else { throw .malformed("length of \(count) bytes") }
            guard start + count <= available else { throw .incomplete }
            for byte in bytes[start..<start + count] {
                // Checked before each shift: the value stays far from Int's range.
                guard length <= maxLength else { throw .malformed("element of more than \(maxLength) bytes") }
                length = length << 8 | Int(byte)
            }
            start += count
        }
        guard length <= maxLength else { throw .malformed("element of \(length) bytes") }
        guard start + length <= available else { throw .incomplete }
        return BERElement(tag: tag, contents: start..<start + length, end: start + length)
    }

    /// The children of a constructed element, in order.
    public func children(of bytes: [UInt8]) throws(Failure) -> [BERElement] {
        var children: [BERElement] = []
        var offset = contents.lowerBound
        while offset < contents.upperBound {
            let child: BERElement
            do {
                child = try BERElement.read(bytes, at: offset, limit: contents.upperBound)
            } catch .incomplete {
                // The parent is complete: a child cut short by its end is a lie, not a wait.
                throw .malformed("a child longer than its parent")
            }
            children.append(child)
            offset = child.end
        }
        return children
    }

    /// The contents as a non-negative integer (INTEGER, ENUMERATED) of at most 4 bytes.
    public func integer(of bytes: [UInt8]) -> Int? {
        guard !contents.isEmpty, contents.count <= 4, bytes[contents.lowerBound] & 0x80 == 0 else { return nil }
        return bytes[contents].reduce(0) { $0 << 8 | Int($1) }
    }

    public func text(of bytes: [UInt8]) -> String { String(decoding: bytes[contents], as: UTF8.self) }
}
