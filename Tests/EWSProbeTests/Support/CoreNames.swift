@testable import EWSProbeCore

/// Foundation has a `Measurement` too; in the tests the name is the result's metric sample.
typealias Measurement = EWSProbeCore.Measurement
