import EWSProbeCore

/// Foundation has a `Measurement` too; in this module the name is the result's metric sample.
typealias Measurement = EWSProbeCore.Measurement
