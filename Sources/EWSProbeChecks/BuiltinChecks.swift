import EWSProbeCore
import EWSProbeTransport

extension CheckRegistry {
    /// The checks ewsprobe ships, in the order the built-in `default` module runs them. A new
    /// check is one folder in this module and one line here.
    public static let builtin = CheckRegistry(types: [
        DNSCheck.self,
        TCPCheck.self,
        TLSCheck.self,
        AuthMethodsCheck.self,
        FormsAuthCheck.self,
        LBAffinityCheck.self,
        EWSLoginCheck.self,
        AutodiscoverCheck.self,
        LDAPCheck.self,
        OAuthTokenCheck.self,
        MailboxAPICheck.self,
        ExoEWSCheck.self,
    ])
}

extension ModuleConfig {
    /// The built-in `default` module: every shipped check with its default settings.
    public static var builtinDefault: ModuleConfig { CheckRegistry.builtin.defaultModule(for: .ews) }
}
