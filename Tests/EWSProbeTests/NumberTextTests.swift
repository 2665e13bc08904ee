import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

@Suite struct NumberTextTests {
    @Test(arguments: [
        (0.0, 3, "0.000"), (0.0484, 3, "0.048"), (1.2345, 1, "1.2"), (0.05, 1, "0.1"), (12.0, 0, "12"), (-0.25, 1, "-0.3"),
        (1234.5678, 3, "1234.568"), (0.0004, 3, "0.000"),
    ])
    func fixedRoundsHalfAwayFromZero(value: Double, digits: Int, expected: String) {
        #expect(NumberText.fixed(value, digits) == expected)
    }

    /// Against C's printf for many values (printf rounds the binary value, half to even at
    /// exact ties; the values here have no exact ties at the printed precision).
    @Test func agreesWithPrintfOnRandomValues() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let value = Double.random(in: 0..<100, using: &generator)
            #expect(NumberText.fixed(value, 3) == String(format: "%.3f", value), "\(value)")
        }
    }

    /// Metric values: integers as integers, everything else to the microsecond, and the text
    /// reads back (Prometheus parses it with strtod) as the rounded value.
    @Test(arguments: [
        (0.0012410969999999998, "0.001241"), (7.87260000000001e-05, "7.9e-05"), (1796145566.0858502, "1796145566.08585"),
        (401.0, "401"), (0.0, "0"), (-0.5, "-0.5"), (1e-9, "0"), (5e12, "5000000000000"), (2.5e10, "25000000000"),
        (1.0e20, "1e+20"), (0.9999999, "1"),
    ])
    func metricValuesStopAtTheMicrosecond(value: Double, expected: String) {
        let text = SeriesWriter.format(value)
        #expect(text == expected)
        #expect(abs((Double(text) ?? .nan) - value) <= 5e-7 * max(1, abs(value) / 1e9))
    }
}
