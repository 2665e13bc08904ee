/// Every SOAP request ewsprobe sends to EWS, in one place: the anonymous probe that `tcp`,
/// `tls`, `auth_methods`, `forms_auth` and `lb_affinity` share, and the Mailbox Check's login.
public enum SOAPEnvelope {
    /// A small valid EWS request; without credentials the server must challenge it.
    public static let anonymousGetFolder = getFolder(impersonating: nil)

    /// GetFolder on the inbox, impersonating `mailbox` when one is given (ExchangeImpersonation
    /// by primary SMTP address, as the cloud service's "Test Connection" does).
    public static func getFolder(impersonating mailbox: String?) -> [UInt8] {
        let impersonation =
            mailbox.map {
                "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>\(EWSResponseParser.escape($0))"
                    + "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
            } ?? ""
        return Array(
            """
            <?xml version="1.0" encoding="utf-8"?>
            <soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" \
            xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" \
            xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
            <soap:Header><t:RequestServerVersion Version="Exchange2013_SP1"/>\(impersonation)</soap:Header>
            <soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
            <m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></soap:Body>
            </soap:Envelope>
            """.utf8)
    }
}
