import Foundation
import Testing

@testable import EWSProbe

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
}
