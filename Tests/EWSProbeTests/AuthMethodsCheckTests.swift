import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// `auth_methods` against nginx answering like Exchange in several configurations.
@Suite(.serialized) struct AuthMethodsCheckTests {
    static let serverBlock = """
        location = /healthy/EWS/Exchange.asmx {
          if ($request_method != POST) { return 302 /owa/; }
          add_header WWW-Authenticate "Negotiate" always;
          add_header WWW-Authenticate "NTLM" always;
          add_header WWW-Authenticate 'Basic realm="mail.lab.test"' always;
          return 401;
        }
        location = /basic-off/EWS/Exchange.asmx {
          add_header WWW-Authenticate "Negotiate" always;
          add_header WWW-Authenticate "NTLM" always;
          return 401;
        }
        location = /anonymous/EWS/Exchange.asmx { return 200 "<soap/>"; }
        location = /bare401/EWS/Exchange.asmx { return 401; }
        location = /one-line/EWS/Exchange.asmx {
          add_header WWW-Authenticate 'Bearer authorization_uri="https://login.lab.test/a,b", Basic realm="x, y", NTLM' always;
          return 401;
        }
        location = /error/EWS/Exchange.asmx { return 503; }
        """

    func run(_ nginx: NginxLab, _ path: String) async throws -> CheckResult {
        let module = ModuleConfig(name: "m", checks: [AuthMethodsCheck()])
        let target = TargetConfig(
            name: "t", url: EndpointURL("http://mail.lab.test:\(nginx.port)\(path)")!, module: module,
            resolve: [try ResolvePin.parse("mail.lab.test:\(nginx.port):127.0.0.1").get()])
        return await ProbeRunner(runtime: .test).run(target).checks[0]
    }

    @Test func verdictsAgainstNginx() async throws {
        let nginx = try NginxLab(serverBlock: Self.serverBlock)
        defer { nginx.stop() }
        let healthy = try await run(nginx, "/healthy/EWS/Exchange.asmx")
        #expect(healthy.status == .pass, "\(healthy.summary)")
        #expect(healthy.details.first { $0.0 == "schemes" }?.1 == .array(["negotiate", "ntlm", "basic"]))
        #expect(healthy.measurements.filter { $0.name == "ewsprobe_auth_scheme_offered" }.count == 3)

        let basicOff = try await run(nginx, "/basic-off/EWS/Exchange.asmx")
        #expect(basicOff.status == .fail && basicOff.reason == "basic_not_offered")

        let anonymous = try await run(nginx, "/anonymous/EWS/Exchange.asmx")
        #expect(anonymous.reason == "anonymous_allowed")

        let bare = try await run(nginx, "/bare401/EWS/Exchange.asmx")
        #expect(bare.reason == "no_auth_challenge")

        let oneLine = try await run(nginx, "/one-line/EWS/Exchange.asmx")
        #expect(oneLine.status == .pass, "\(oneLine.summary)")
        #expect(oneLine.details.first { $0.0 == "schemes" }?.1 == .array(["bearer", "basic", "ntlm"]))

        let error = try await run(nginx, "/error/EWS/Exchange.asmx")
        #expect(error.reason == "unexpected_status")
        #expect(error.summary.contains("503"))

        let closed = TargetConfig(
            name: "c", url: EndpointURL("http://127.0.0.1:\(LabNetwork.freePort())/EWS/Exchange.asmx")!,
            module: ModuleConfig(name: "m", checks: [AuthMethodsCheck()]))
        #expect(await ProbeRunner(runtime: .test).run(closed).checks[0].reason == "request_failed")
    }
}
