import Foundation

/// NTLM message flags used by ewsprobe (MS-NLMP 2.2.2.5).
public struct NTLMFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let unicode = NTLMFlags(rawValue: 0x1)
    public static let oem = NTLMFlags(rawValue: 0x2)
    public static let requestTarget = NTLMFlags(rawValue: 0x4)
    public static let sign = NTLMFlags(rawValue: 0x10)
    public static let seal = NTLMFlags(rawValue: 0x20)
    public static let ntlm = NTLMFlags(rawValue: 0x200)
    public static let alwaysSign = NTLMFlags(rawValue: 0x8000)
    public static let extendedSessionSecurity = NTLMFlags(rawValue: 0x80000)
    public static let targetInfo = NTLMFlags(rawValue: 0x80_0000)
    public static let version = NTLMFlags(rawValue: 0x200_0000)
    public static let use128 = NTLMFlags(rawValue: 0x2000_0000)
    public static let keyExchange = NTLMFlags(rawValue: 0x4000_0000)
    public static let use56 = NTLMFlags(rawValue: 0x8000_0000)

    /// What a census NEGOTIATE asks for: target info and the OS version back.
    public static let census: NTLMFlags = [
        .unicode, .requestTarget, .ntlm, .alwaysSign, .extendedSessionSecurity, .targetInfo, .version, .use128, .use56,
    ]
}

/// The 8-byte Version structure: major, minor, build, revision.
public struct NTLMVersion: Sendable, Equatable, CustomStringConvertible {
    public var major: UInt8
    public var minor: UInt8
    public var build: UInt16
    public var revision: UInt8 = 0x0F

    public init(major: UInt8, minor: UInt8, build: UInt16, revision: UInt8 = 0x0F) {
        self.major = major
        self.minor = minor
        self.build = build
        self.revision = revision
    }

    var bytes: [UInt8] { [major, minor, UInt8(build & 0xff), UInt8(build >> 8), 0, 0, 0, revision] }
    public var description: String { "\(major).\(minor).\(build)" }
}

/// A decoding failure: the message is malformed in the way named.
public struct NTLMDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Target info AV pairs (MS-NLMP 2.2.2.1).
public struct NTLMTargetInfo: Sendable, Equatable {
    public enum ID: UInt16, Sendable {
        case eol = 0, nbComputerName, nbDomainName, dnsComputerName, dnsDomainName, dnsTreeName, flags, timestamp,
            singleHost, targetName, channelBindings
    }

    /// Pairs in message order, without the EOL.
    public var pairs: [(UInt16, [UInt8])]

    public init(pairs: [(UInt16, [UInt8])] = []) { self.pairs = pairs }

    /// The most a challenge's target info may hold (Windows sends a few hundred bytes).
    public static let maxLength = 16 * 1024

    public static func == (lhs: NTLMTargetInfo, rhs: NTLMTargetInfo) -> Bool {
        lhs.pairs.count == rhs.pairs.count && zip(lhs.pairs, rhs.pairs).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    public func value(_ id: ID) -> [UInt8]? { pairs.first { $0.0 == id.rawValue }?.1 }

    public func string(_ id: ID) -> String? {
        guard let bytes = value(id), bytes.count % 2 == 0 else { return nil }
        let units = stride(from: 0, to: bytes.count, by: 2).map { UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8 }
        return String(decoding: units, as: UTF16.self)
    }

    /// FILETIME (100 ns ticks since 1601) of the server's clock.
    public var timestamp: UInt64? {
        guard let bytes = value(.timestamp), bytes.count == 8 else { return nil }
        return bytes.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    /// Encoded with the EOL pair.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        for (id, value) in pairs {
            out += NTLMBytes.u16(id) + NTLMBytes.u16(UInt16(value.count)) + value
        }
        return out + [0, 0, 0, 0]
    }

    /// Parses pairs until EOL; every length is checked against the buffer.
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(NTLMDecodeError) -> NTLMTargetInfo {
        var info = NTLMTargetInfo()
        var offset = bytes.startIndex
        while true {
            guard offset + 4 <= bytes.endIndex else { throw NTLMDecodeError(message: "target info ends without EOL") }
            let id = UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
            let length = Int(UInt16(bytes[offset + 2]) | UInt16(bytes[offset + 3]) << 8)
            offset += 4
            if id == 0 { return info }
            guard offset + length <= bytes.endIndex else {
                throw NTLMDecodeError(message: "AV pair \(id) of \(length) bytes runs past the target info")
            }
            guard info.pairs.count < 1024 else { throw NTLMDecodeError(message: "more than 1024 AV pairs") }
            info.pairs.append((id, Array(bytes[offset..<offset + length])))
            offset += length
        }
    }
}

enum NTLMBytes {
    static let signature: [UInt8] = Array("NTLMSSP".utf8) + [0]

    static func u16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
    static func u32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * UInt32($0))) & 0xff) } }
    static func u64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8((v >> (8 * UInt64($0))) & 0xff) } }

    static func readU16(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
    static func readU32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }

    static func field(_ length: Int, _ offset: Int) -> [UInt8] {
        u16(UInt16(length)) + u16(UInt16(length)) + u32(UInt32(offset))
    }

    /// A security buffer's bytes, checked against the message.
    static func buffer(_ b: [UInt8], at position: Int, name: String, minimumOffset: Int) throws(NTLMDecodeError) -> ArraySlice<UInt8> {
        let length = readU16(b, position)
        let offset = Int(readU32(b, position + 4))
        if length == 0 { return [] }
        guard offset >= minimumOffset else { throw NTLMDecodeError(message: "\(name) offset \(offset) points into the header") }
        guard offset <= b.count, length <= b.count - offset else {
            throw NTLMDecodeError(message: "\(name) (\(length) bytes at \(offset)) runs past the \(b.count)-byte message")
        }
        return b[offset..<offset + length]
    }

    static func header(_ b: [UInt8], type: UInt32, minimum: Int) throws(NTLMDecodeError) {
        guard b.count >= minimum else { throw NTLMDecodeError(message: "\(b.count) bytes is too short for an NTLM type \(type) message") }
        guard Array(b[0..<8]) == signature else { throw NTLMDecodeError(message: "no NTLMSSP signature") }
        let found = readU32(b, 8)
        guard found == type else { throw NTLMDecodeError(message: "message type \(found), expected \(type)") }
    }
}

/// NEGOTIATE (type 1).
public struct NTLMNegotiate: Sendable, Equatable {
    public var flags: NTLMFlags
    public var version: NTLMVersion?

    public init(flags: NTLMFlags = .census, version: NTLMVersion? = NTLMVersion(major: 10, minor: 0, build: 20348)) {
        self.flags = flags
        self.version = version
    }

    /// No domain or workstation: the census does not identify the prober.
    public var encoded: [UInt8] {
        let headerLength = flags.contains(.version) ? 40 : 32
        var out = NTLMBytes.signature + NTLMBytes.u32(1) + NTLMBytes.u32(flags.rawValue)
        out += NTLMBytes.field(0, headerLength) + NTLMBytes.field(0, headerLength)
        if flags.contains(.version) { out += (version ?? NTLMVersion(major: 0, minor: 0, build: 0, revision: 0x0F)).bytes }
        return out
    }

    public static func decode(_ b: [UInt8]) throws(NTLMDecodeError) -> NTLMNegotiate {
        try NTLMBytes.header(b, type: 1, minimum: 16)
        let flags = NTLMFlags(rawValue: NTLMBytes.readU32(b, 12))
        var version: NTLMVersion?
        if flags.contains(.version), b.count >= 40 {
            version = NTLMVersion(major: b[32], minor: b[33], build: UInt16(NTLMBytes.readU16(b, 34)), revision: b[39])
        }
        return NTLMNegotiate(flags: flags, version: version)
    }
}

/// CHALLENGE (type 2). The decoder is total: any input gives a value or an error.
public struct NTLMChallenge: Sendable, Equatable {
    public var flags: NTLMFlags
    public var serverChallenge: [UInt8]
    public var targetName: String
    public var targetInfo: NTLMTargetInfo
    public var version: NTLMVersion?
    /// The message as received (the MIC covers it).
    public var raw: [UInt8]

    /// A server's CHALLENGE (the demo farm and tests play the server side), with Version.
    public static func encode(
        flags: NTLMFlags, serverChallenge: [UInt8], targetName: String, targetInfo: NTLMTargetInfo, version: NTLMVersion
    ) -> [UInt8] {
        let name = NTLMCrypto.utf16le(targetName)
        let info = targetInfo.encoded
        var out = NTLMBytes.signature + NTLMBytes.u32(2) + NTLMBytes.field(name.count, 56) + NTLMBytes.u32(flags.rawValue)
        out += serverChallenge + [UInt8](repeating: 0, count: 8) + NTLMBytes.field(info.count, 56 + name.count) + version.bytes
        return out + name + info
    }

    public static func decode(_ b: [UInt8]) throws(NTLMDecodeError) -> NTLMChallenge {
        try NTLMBytes.header(b, type: 2, minimum: 32)
        let flags = NTLMFlags(rawValue: NTLMBytes.readU32(b, 20))
        let nameBytes = try NTLMBytes.buffer(b, at: 12, name: "target name", minimumOffset: 32)
        var targetInfo = NTLMTargetInfo()
        var version: NTLMVersion?
        if b.count >= 48 {
            let infoBytes = try NTLMBytes.buffer(b, at: 40, name: "target info", minimumOffset: 48)
            // Echoed in the NT response, whose length is 16 bits: a server's few hundred bytes
            // fit, a hostile 64 KiB would not.
            guard infoBytes.count <= NTLMTargetInfo.maxLength else {
                throw NTLMDecodeError(message: "target info of \(infoBytes.count) bytes (more than \(NTLMTargetInfo.maxLength))")
            }
            if !infoBytes.isEmpty { targetInfo = try NTLMTargetInfo.decode(infoBytes) }
            // The Version is there when the payload starts at 56 or later.
            let payloadStart = [
                NTLMBytes.readU16(b, 12) > 0 ? Int(NTLMBytes.readU32(b, 16)) : Int.max,
                NTLMBytes.readU16(b, 40) > 0 ? Int(NTLMBytes.readU32(b, 44)) : Int.max,
            ].min()!
            if b.count >= 56, payloadStart >= 56 {
                version = NTLMVersion(major: b[48], minor: b[49], build: UInt16(NTLMBytes.readU16(b, 50)), revision: b[55])
            }
        }
        let name: String
        if flags.contains(.unicode) {
            let units = stride(from: nameBytes.startIndex, to: nameBytes.endIndex - 1, by: 2).map {
                UInt16(nameBytes[$0]) | UInt16(nameBytes[$0 + 1]) << 8
            }
            name = String(decoding: units, as: UTF16.self)
        } else {
            name = String(decoding: nameBytes, as: UTF8.self)
        }
        return NTLMChallenge(
            flags: flags, serverChallenge: Array(b[24..<32]), targetName: name, targetInfo: targetInfo, version: version, raw: b)
    }
}

/// AUTHENTICATE (type 3).
public struct NTLMAuthenticate: Sendable, Equatable {
    public var flags: NTLMFlags
    public var lmResponse: [UInt8]
    public var ntResponse: [UInt8]
    public var domain: String
    public var user: String
    public var workstation: String
    public var encryptedSessionKey: [UInt8]
    public var version: NTLMVersion?
    public var mic: [UInt8]?

    /// Header (with Version, and the MIC field when there is one), then the payload in the
    /// order Windows uses: domain, user, workstation, LM, NT, session key.
    public var encoded: [UInt8] {
        let strings = [domain, user, workstation].map { flags.contains(.unicode) ? NTLMCrypto.utf16le($0) : Array($0.utf8) }
        let headerLength = 64 + (version != nil ? 8 : 0) + (mic != nil ? 16 : 0)
        var offset = headerLength
        var payload: [UInt8] = []
        func place(_ bytes: [UInt8]) -> [UInt8] {
            let field = NTLMBytes.field(bytes.count, offset)
            payload += bytes
            offset += bytes.count
            return field
        }
        // Payload order domain, user, workstation, LM, NT, key; fields in header order.
        let domainField = place(strings[0])
        let userField = place(strings[1])
        let workstationField = place(strings[2])
        let lmField = place(lmResponse)
        let ntField = place(ntResponse)
        let keyField = place(encryptedSessionKey)
        let fields = lmField + ntField + domainField + userField + workstationField + keyField
        var out = NTLMBytes.signature + NTLMBytes.u32(3) + fields + NTLMBytes.u32(flags.rawValue)
        if let version { out += version.bytes }
        if let mic { out += mic }
        return out + payload
    }

    /// Offset of the MIC in the encoded message (after the Version).
    var micOffset: Int { 64 + (version != nil ? 8 : 0) }
}

/// Builds an NTLMv2 AUTHENTICATE for a CHALLENGE (MS-NLMP 3.3.2).
public struct NTLMv2Client: Sendable {
    public var user: String
    public var domain: String
    public var password: Secret
    public var workstation: String

    public init(user: String, domain: String, password: Secret, workstation: String = "EWSPROBE") {
        self.user = user
        self.domain = domain
        self.password = password
        self.workstation = workstation
    }

    /// Splits `DOMAIN\user` and `user@domain` (a UPN goes whole as the user, domain empty).
    public static func split(_ login: String) -> (user: String, domain: String) {
        if let slash = login.firstIndex(of: "\\") {
            return (String(login[login.index(after: slash)...]), String(login[..<slash]))
        }
        return (login, "")
    }

    public struct Material: Sendable {
        public var ntProof: [UInt8]
        public var sessionBaseKey: [UInt8]
        public var ntResponse: [UInt8]
        public var lmResponse: [UInt8]
    }

    /// The NTLMv2 responses for given inputs (deterministic: the MS-NLMP vectors use it).
    public func responses(serverChallenge: [UInt8], clientChallenge: [UInt8], time: UInt64, targetInfo: [UInt8]) -> Material {
        let key = NTLMCrypto.ntowfv2(password: password.reveal(), user: user, domain: domain)
        let temp: [UInt8] = [1, 1, 0, 0, 0, 0, 0, 0] + NTLMBytes.u64(time) + clientChallenge + [0, 0, 0, 0] + targetInfo + [0, 0, 0, 0]
        let proof = NTLMCrypto.hmacMD5(key: key, serverChallenge + temp)
        let lm = NTLMCrypto.hmacMD5(key: key, serverChallenge + clientChallenge) + clientChallenge
        return Material(ntProof: proof, sessionBaseKey: NTLMCrypto.hmacMD5(key: key, proof), ntResponse: proof + temp, lmResponse: lm)
    }

    /// The AUTHENTICATE answering `challenge`, with the server's timestamp and a MIC when the
    /// challenge carries a timestamp (as Windows does), without key exchange.
    public func authenticate(negotiate: [UInt8], challenge: NTLMChallenge, clientChallenge: [UInt8]? = nil, now: Date = Date())
        -> [UInt8]
    {
        let client = clientChallenge ?? (0..<8).map { _ in UInt8.random(in: 0...255) }
        var info = challenge.targetInfo
        let serverTime = info.timestamp
        let time = serverTime ?? UInt64((now.timeIntervalSince1970 * 10_000_000).rounded()) + 116_444_736_000_000_000
        if serverTime != nil {
            info.pairs.removeAll { $0.0 == NTLMTargetInfo.ID.flags.rawValue }
            info.pairs.append((NTLMTargetInfo.ID.flags.rawValue, NTLMBytes.u32(0x2)))  // a MIC is present
        }
        let material = responses(serverChallenge: challenge.serverChallenge, clientChallenge: client, time: time, targetInfo: info.encoded)
        var flags = challenge.flags.intersection([
            .unicode, .requestTarget, .ntlm, .alwaysSign, .extendedSessionSecurity, .targetInfo, .version, .use128, .use56,
        ])
        if !flags.contains(.unicode) { flags.insert(.oem) }
        var message = NTLMAuthenticate(
            flags: flags, lmResponse: serverTime != nil ? [UInt8](repeating: 0, count: 24) : material.lmResponse,
            ntResponse: material.ntResponse, domain: domain, user: user, workstation: workstation, encryptedSessionKey: [],
            version: NTLMVersion(major: 10, minor: 0, build: 20348), mic: serverTime != nil ? [UInt8](repeating: 0, count: 16) : nil)
        guard serverTime != nil else { return message.encoded }
        let zeroed = message.encoded
        message.mic = NTLMCrypto.hmacMD5(key: material.sessionBaseKey, negotiate + challenge.raw + zeroed)
        return message.encoded
    }
}
