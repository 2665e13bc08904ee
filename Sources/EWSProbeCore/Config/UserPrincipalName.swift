/// What ewsprobe knows of login names: the seeds advise against local-only UPN suffixes, which
/// a cloud service cannot authenticate. Config loading warns of them, `ews_login` notes them.
public enum UserPrincipalName {
    static let localOnlySuffixes = [".local", ".lan", ".internal", ".localdomain", ".corp"]

    /// The local-only UPN suffix of a login name, if it has one.
    public static func localOnlySuffix(of username: String) -> String? {
        localOnlySuffixes.first { username.lowercased().hasSuffix($0) }
    }
}
