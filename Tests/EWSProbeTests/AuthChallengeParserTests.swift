import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

@Suite struct AuthChallengeParserTests {
    @Test func exchangeStyleHeadersOnePerLine() {
        let challenges = AuthChallengeParser.parse(headers: ["Negotiate", "NTLM", "Basic realm=\"mail.example.com\""])
        #expect(challenges.map(\.scheme) == ["Negotiate", "NTLM", "Basic"])
        #expect(challenges[2].parameter("REALM") == "mail.example.com")
    }

    @Test func severalChallengesInOneLine() {
        let challenges = AuthChallengeParser.parse(
            "Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", Basic realm=\"simple\"")
        #expect(challenges.count == 2)
        #expect(challenges[0].scheme == "Newauth")
        #expect(
            challenges[0].parameters == [
                AuthParameter("realm", "apps"), AuthParameter("type", "1"), AuthParameter("title", "Login to \"apps\""),
            ])
        #expect(challenges[1].scheme == "Basic")
        #expect(challenges[1].parameter("realm") == "simple")
    }

    @Test func quotedCommasDoNotSplit() {
        let challenges = AuthChallengeParser.parse(
            "Bearer client_id=\"00000002-0000-0ff1-ce00-000000000000\", authorization_uri=\"https://login.example.com/a,b\", Basic realm=\"x, y\""
        )
        #expect(challenges.map(\.scheme) == ["Bearer", "Basic"])
        #expect(challenges[0].parameter("authorization_uri") == "https://login.example.com/a,b")
        #expect(challenges[1].parameter("realm") == "x, y")
    }

    @Test func token68AndBareSchemes() {
        let challenges = AuthChallengeParser.parse("NTLM TlRMTVNTUAACAAAADAAMADgAAAAzgoriASNFZ4mrze8AAAA=, Negotiate, Basic realm=r")
        #expect(challenges.count == 3)
        #expect(challenges[0].token68 == "TlRMTVNTUAACAAAADAAMADgAAAAzgoriASNFZ4mrze8AAAA=")
        #expect(challenges[1].scheme == "Negotiate" && challenges[1].token68 == nil && challenges[1].parameters.isEmpty)
        #expect(challenges[2].parameter("realm") == "r")
    }

    @Test func token68WithPaddingBeforeAnotherChallenge() {
        let challenges = AuthChallengeParser.parse("Negotiate abc==, NTLM")
        #expect(challenges.map(\.scheme) == ["Negotiate", "NTLM"])
        #expect(challenges[0].token68 == "abc==")
    }

    @Test func whitespaceAndEmptyElements() {
        let challenges = AuthChallengeParser.parse(" ,  Basic   realm = \"a\" ,, ,Digest realm=\"b\", qop=\"auth,auth-int\", nonce=xyz ")
        #expect(challenges.map(\.scheme) == ["Basic", "Digest"])
        #expect(challenges[0].parameter("realm") == "a")
        #expect(challenges[1].parameter("qop") == "auth,auth-int")
        #expect(challenges[1].parameter("nonce") == "xyz")
    }

    @Test func malformedInputNeverTraps() {
        for input in ["", ",", "=", "\"", "Basic realm=\"unterminated", "Basic realm=", "Basic ===", "@@@, Basic", "Basic realm=\"a\\"] {
            _ = AuthChallengeParser.parse(input)
        }
        #expect(AuthChallengeParser.parse("@@@, Basic").map(\.scheme) == ["Basic"])
        #expect(AuthChallengeParser.parse("Basic realm=\"unterminated").first?.parameter("realm") == "unterminated")
    }

    @Test func verdictsFromTheAnswer() {
        let check = AuthMethodsCheck()
        let full = AuthChallengeParser.parse(headers: ["Negotiate", "NTLM", "Basic realm=\"x\""])
        #expect(check.evaluate(status: 401, challenges: full, offered: ["negotiate", "ntlm", "basic"]).status == .pass)
        let noBasic = check.evaluate(status: 401, challenges: Array(full.prefix(2)), offered: ["negotiate", "ntlm"])
        #expect(noBasic.reason == "basic_not_offered")
        #expect(check.evaluate(status: 200, challenges: [], offered: []).reason == "anonymous_allowed")
        #expect(check.evaluate(status: 401, challenges: [], offered: []).reason == "no_auth_challenge")
        #expect(check.evaluate(status: 302, challenges: [], offered: []).reason == "unexpected_status")
        var strict = AuthMethodsCheck()
        strict.forbidden = ["negotiate"]
        #expect(
            strict.evaluate(status: 401, challenges: full, offered: ["negotiate", "ntlm", "basic"]).reason == "forbidden_scheme_offered")
        let basicOnly = check.evaluate(status: 401, challenges: [full[2]], offered: ["basic"])
        #expect(basicOnly.status == .warn && basicOnly.reason == "expected_scheme_missing")
    }
}
