import XCTest

@testable import Gossip

/// Every bound of `Settings` is checked, and the error names it.
final class SettingsTests: XCTestCase {
    func testDefaultsAreValid() throws {
        try SWIM.Settings(randomSeed: 1).validate()
    }

    func testValidateRejectsEachBadBoundNamingIt() {
        let cases: [(bound: String, breakIt: (inout SWIM.Settings) -> Void)] = [
            ("membersMax", { $0.membersMax = 2 }),
            ("membersMax", { $0.membersMax = SWIM.Wire.membersPerMessageMax + 1 }),
            ("probeIntervalMs", { $0.probeIntervalMs = 0 }),
            ("probeIntervalMs", { $0.probeIntervalMs = SWIM.Settings.durationMsMax + 1 }),
            ("probeTimeoutMs", { $0.probeTimeoutMs = 0 }),
            ("probeTimeoutMs", { $0.probeTimeoutMs = $0.probeIntervalMs / 3 + 1 }),
            ("probeTimeoutMs", { $0.probeTimeoutMs = .max }),
            ("deadProbeIntervalMs", { $0.deadProbeIntervalMs = .max }),
            ("indirectProbeCount", { $0.indirectProbeCount = 0 }),
            ("indirectProbeCount", { $0.indirectProbeCount = $0.membersMax - 1 }),
            ("suspicionTimeoutMs", { $0.suspicionTimeoutMs = $0.probeIntervalMs - 1 }),
            ("suspicionTimeoutMs", { $0.suspicionTimeoutMs = SWIM.Settings.durationMsMax + 1 }),
            ("deadProbeIntervalMs", { $0.deadProbeIntervalMs = $0.probeIntervalMs - 1 }),
            ("piggybackUpdatesMax", { $0.piggybackUpdatesMax = 0 }),
            ("piggybackUpdatesMax", { $0.piggybackUpdatesMax = $0.membersMax + 1 }),
            ("disseminationMultiplier", { $0.disseminationMultiplier = 0 }),
            ("disseminationMultiplier", { $0.disseminationMultiplier = SWIM.Settings.disseminationMultiplierMax + 1 }),
            ("leaveFanout", { $0.leaveFanout = 0 }),
            ("joinRetryIntervalMaxMs", { $0.joinRetryIntervalMaxMs = $0.probeIntervalMs - 1 }),
            ("joinRetryIntervalMaxMs", { $0.joinRetryIntervalMaxMs = SWIM.Settings.durationMsMax + 1 }),
        ]
        for (bound, breakIt) in cases {
            var settings = SWIM.Settings(randomSeed: 1)
            breakIt(&settings)
            do {
                try settings.validate()
                XCTFail("\(bound): not rejected")
            } catch {
                XCTAssertTrue(error.description.hasPrefix(bound + " "), "\(bound): \(error.description)")
            }
            XCTAssertThrowsError(try SWIMInstance(settings: settings, id: 1, addresses: Fixture.addresses(1)), bound)
        }
    }

    func testTheBoundsThemselvesAreAllowed() throws {
        var settings = SWIM.Settings(randomSeed: 1)
        settings.membersMax = SWIM.Wire.membersPerMessageMax
        settings.probeTimeoutMs = settings.probeIntervalMs / 3
        settings.indirectProbeCount = settings.membersMax - 2
        settings.suspicionTimeoutMs = settings.probeIntervalMs
        settings.deadProbeIntervalMs = settings.probeIntervalMs
        settings.piggybackUpdatesMax = settings.membersMax
        settings.disseminationMultiplier = SWIM.Settings.disseminationMultiplierMax
        settings.joinRetryIntervalMaxMs = settings.probeIntervalMs
        try settings.validate()
    }

    func testInstanceRejectsBadIdentity() {
        let settings = Fixture.settings()
        let longHost = SWIM.HostPort(host: String(repeating: "h", count: SWIM.Wire.hostBytesMax + 1), port: 1)
        var long = Fixture.addresses(1)
        long.http = longHost
        XCTAssertThrowsError(try SWIMInstance(settings: settings, id: 0, addresses: Fixture.addresses(1)))
        XCTAssertThrowsError(try SWIMInstance(settings: settings, id: 1, addresses: long))
        XCTAssertThrowsError(try SWIMInstance(settings: settings, id: 1, addresses: Fixture.addresses(1),
                                              incarnation: SWIM.incarnationMax + 1))
        XCTAssertThrowsError(try SWIMInstance(settings: settings, id: 1, addresses: Fixture.addresses(1),
                                              knownMembers: [Fixture.member(1)]), "itself")
        XCTAssertThrowsError(try SWIMInstance(settings: settings, id: 1, addresses: Fixture.addresses(1),
                                              knownMembers: [Fixture.member(2), Fixture.member(2)]), "duplicate")
        XCTAssertThrowsError(try SWIMInstance(settings: settings, id: 1, addresses: Fixture.addresses(1),
                                              knownMembers: (2...UInt64(settings.membersMax + 1)).map { Fixture.member($0) }),
                             "more than membersMax")
    }

    /// λ·⌈log₂(n + 1)⌉.
    func testDisseminationLimit() {
        let settings = Fixture.settings { $0.disseminationMultiplier = 3 }
        XCTAssertEqual([1, 2, 3, 4, 7, 8, 9, 64].map { settings.disseminationLimit(liveMembers: $0) },
                       [3, 6, 6, 9, 9, 12, 12, 21])
    }
}
