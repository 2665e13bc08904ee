/// One directory entry as a search returned it: attribute names lower-cased, values as text.
struct LDAPEntry: Sendable, Equatable {
    var dn: String
    var attributes: [String: [String]]

    func first(_ name: String) -> String? { attributes[name.lowercased()]?.first }
    func all(_ name: String) -> [String] { attributes[name.lowercased()] ?? [] }
}
