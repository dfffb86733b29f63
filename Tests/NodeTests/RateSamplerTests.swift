import XCTest

@testable import Node

/// Rates as the management API gives them: the change between the last two samples, per second.
final class RateSamplerTests: XCTestCase {
    func testARateIsTheChangeBetweenTheLastTwoSamplesPerSecond() {
        var sampler = RateSampler<[String: UInt64]>()
        XCTAssertEqual(sampler.rate { $0["a"] }, 0, "no sample yet")
        sampler.sample(["a": 10], at: 1_000)
        XCTAssertEqual(sampler.rate { $0["a"] }, 0, "one sample is no rate")
        sampler.sample(["a": 110, "b": 50], at: 6_000)
        XCTAssertEqual(sampler.rate { $0["a"] }, 20, "100 in 5 s")
        XCTAssertEqual(sampler.rate { $0["b"] }, 10, "a count new since the last sample counts from 0")
        XCTAssertEqual(sampler.rate { $0["c"] }, 0, "a count in neither")
        sampler.sample(["a": 110], at: 8_000)
        XCTAssertEqual(sampler.rate { $0["a"] }, 0, "only the last two samples count")
        XCTAssertEqual(sampler.rate { $0["b"] }, 0, "a count gone from the latest sample")
    }
}
