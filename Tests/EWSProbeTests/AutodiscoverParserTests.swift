import Testing

@testable import EWSProbeChecks
@testable import EWSProbeTransport

/// The pure parts of `autodiscover`: reading POX answers (as Exchange writes them and as hostile
/// servers might), the SRV order and the EWS URL comparison.
@Suite struct AutodiscoverParserTests {
    static func parse(_ text: String) -> AutodiscoverAnswer { AutodiscoverResponseParser.parse(Array(text.utf8)) }

    static let settings = """
        <?xml version="1.0" encoding="utf-8"?>
        <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
          <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
            <User><DisplayName>Probe &amp; Co</DisplayName></User>
            <Account>
              <AccountType>email</AccountType>
              <Action>settings</Action>
              <!-- a comment with <EwsUrl>https://comment.example/</EwsUrl> inside -->
              <Protocol><Type>EXCH</Type><EwsUrl>https://mail-int.example.com/EWS/Exchange.asmx</EwsUrl></Protocol>
              <Protocol><Type>EXPR</Type><EwsUrl><![CDATA[https://mail.example.com/EWS/Exchange.asmx]]></EwsUrl></Protocol>
              <Protocol><Type>WEB</Type></Protocol>
            </Account>
          </Response>
        </Autodiscover>
        """

    @Test func settingsWithBothEwsURLs() {
        let answer = Self.parse(Self.settings)
        #expect(answer.refusal == nil)
        #expect(answer.action == .settings)
        #expect(answer.externalEwsURL == "https://mail.example.com/EWS/Exchange.asmx")
        #expect(answer.internalEwsURL == "https://mail-int.example.com/EWS/Exchange.asmx")
    }

    @Test func prefixedNamesAndTypeAttribute() {
        let answer = Self.parse(
            """
            <a:Autodiscover xmlns:a="x"><r:Response xmlns:r="y"><r:Account><r:Action>settings</r:Action>
            <r:Protocol Type="EXPR"><r:EwsUrl>https://m.example.com/ews/exchange.asmx</r:EwsUrl></r:Protocol></r:Account></r:Response></a:Autodiscover>
            """)
        #expect(answer.externalEwsURL == "https://m.example.com/ews/exchange.asmx")
    }

    @Test func redirectsAndErrors() {
        let address = Self.parse(
            "<Autodiscover><Response><Account><Action>redirectAddr</Action><RedirectAddr>a@b.example</RedirectAddr></Account></Response></Autodiscover>"
        )
        #expect(address.action == .redirectAddress("a@b.example"))
        let url = Self.parse(
            "<Autodiscover><Response><Account><Action>redirectUrl</Action><RedirectUrl>https://x/autodiscover/autodiscover.xml</RedirectUrl></Account></Response></Autodiscover>"
        )
        #expect(url.action == .redirectURL("https://x/autodiscover/autodiscover.xml"))
        let error = Self.parse(
            "<Autodiscover><Response><Error Time=\"1\" Id=\"2\"><ErrorCode>500</ErrorCode><Message>The e-mail address cannot be found.</Message><DebugData /></Error></Response></Autodiscover>"
        )
        #expect(error.errorCode == "500")
        #expect(error.errorMessage == "The e-mail address cannot be found.")
        #expect(error.action == nil)
    }

    @Test func hostileDocumentsAreRefused() {
        let bomb = Self.parse(
            """
            <?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
            <Autodiscover><Response><Account><Action>settings</Action><Protocol><Type>EXPR</Type><EwsUrl>&lol2;</EwsUrl></Protocol></Account></Response></Autodiscover>
            """)
        #expect(bomb.refusal?.contains("document type") == true)
        #expect(bomb.externalEwsURL == nil)
        #expect(Self.parse("<Autodiscover><Response><Account></Acount></Response></Autodiscover>").refusal != nil)
        #expect(Self.parse("<Autodiscover><Response>").refusal != nil)
        #expect(Self.parse("<html><body>It works</body></html>").isAutodiscover == false)
        #expect(Self.parse("").refusal != nil)
        #expect(Self.parse("<Autodiscover><Response><Account><Action>settings</Action><Pro").refusal != nil)
        let deep = String(repeating: "<a>", count: 100) + String(repeating: "</a>", count: 100)
        #expect(Self.parse("<Autodiscover>\(deep)</Autodiscover>").refusal != nil)
    }

    @Test func srvOrderIsLowestPriorityThenHighestWeight() {
        let records = [
            SRVRecord(priority: 10, weight: 100, port: 443, target: "wrong.example"),
            SRVRecord(priority: 0, weight: 1, port: 443, target: "low.example"),
            SRVRecord(priority: 0, weight: 10, port: 8443, target: "right.example"),
            SRVRecord(priority: 0, weight: 50, port: 443, target: "."),
        ]
        #expect(SRVRecord.ordered(records).map(\.target) == ["right.example", "low.example", "wrong.example"])
    }

    @Test func ewsURLComparison() throws {
        let configured = try #require(EndpointURL("https://mail.example.com/EWS/Exchange.asmx"))
        #expect(EwsURLComparison.same("https://MAIL.example.com:443/ews/exchange.asmx", configured))
        #expect(EwsURLComparison.same("https://mail.example.com/EWS/Exchange.asmx/", configured))
        #expect(!EwsURLComparison.same("http://mail.example.com/EWS/Exchange.asmx", configured))
        #expect(!EwsURLComparison.same("https://mail.example.com:8443/EWS/Exchange.asmx", configured))
        #expect(!EwsURLComparison.same("https://other.example.com/EWS/Exchange.asmx", configured))
        #expect(!EwsURLComparison.same("not a url", configured))
    }
}
