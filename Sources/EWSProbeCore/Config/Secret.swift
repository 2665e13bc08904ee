import EWSProbeTransport
import Foundation

/// Where a password lives. Passwords are only ever given by reference, so config files,
/// command lines and errors never carry them.
public enum SecretReference: Sendable, Equatable, CustomStringConvertible {
    case file(String)
    case environment(String)

    public var description: String {
        switch self {
        case .file(let path): "password_file \(path)"
        case .environment(let name): "password_env \(name)"
        }
    }

    /// Reads the secret now (files may be rotated between runs). Errors never include the value,
    /// and name the keys that gave the reference (`password_file`, `client_secret_file`, ...).
    public func load(fileKey: String = "password_file", envKey: String = "password_env") throws(SecretError) -> Secret {
        switch self {
        case .file(let path):
            // A FIFO or a device in its place must fail the check, not block the run.
            guard case .success(let bytes) = RegularFile.read(path, limit: 64 << 10) else {
                throw SecretError(message: "cannot read \(fileKey) \(path) (a regular file of at most 64 KiB)")
            }
            guard var text = String(validating: bytes, as: UTF8.self) else {
                throw SecretError(message: "\(fileKey) \(path) is not UTF-8")
            }
            while let last = text.unicodeScalars.last, last == "\n" || last == "\r" { text.unicodeScalars.removeLast() }
            guard !text.isEmpty else { throw SecretError(message: "\(fileKey) \(path) is empty") }
            return Secret(text)
        case .environment(let name):
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                throw SecretError(message: "environment variable \(name) (\(envKey)) is not set")
            }
            return Secret(value)
        }
    }

    /// True when a password file can be read by group or others (worth a warning).
    public var isWorldReadable: Bool {
        guard case .file(let path) = self,
            let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let mode = attributes[.posixPermissions] as? Int
        else { return false }
        return mode & 0o044 != 0
    }
}

public struct SecretError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
