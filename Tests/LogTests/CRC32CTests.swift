import XCTest

@testable import Checksum

final class CRC32CTests: XCTestCase {
    /// The standard check value of CRC-32C (Castagnoli) over the ASCII digits "123456789".
    func testKnownAnswer() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([]), 0)
        // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, of ones, ascending, descending.
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }), 0x113F_DB5C)
    }

    /// Eight bytes a step, by table and by the CPU's instruction, gives what one byte a step
    /// gives, at every length and offset.
    func testSlicingAndInstructionAgreeWithTheBytewiseDefinition() {
        func bytewise(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            }
            return ~crc
        }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let data: [UInt8] = (0..<300).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        for start in 0..<9 {
            for end in stride(from: start, through: data.count, by: 7) {
                let expected = bytewise(data[start..<end])
                Array(data[start..<end]).withUnsafeBytes { bytes in
                    XCTAssertEqual(CRC32C.checksum(bytes), expected, "\(start)..<\(end)")
                    XCTAssertEqual(CRC32C.slicingChecksum(bytes), expected, "table, \(start)..<\(end)")
                }
            }
        }
    }

    /// The x86-64 and ARMv8 machines Berth runs on have the instruction; a build that lost it
    /// would fall back to the table silently, at a fraction of the speed.
    func testTheInstructionIsUsedWhereTheCPUHasIt() throws {
        #if arch(x86_64) || arch(arm64)
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        try XCTSkipUnless(flags.contains(" sse4_2") || flags.contains(" crc32"), "this CPU has no CRC-32C instruction")
        XCTAssertTrue(CRC32C.usesCPUInstruction)
        #endif
    }

    /// Checksumming in pieces, as the record checksum does (length, then payload), equals
    /// checksumming the concatenation.
    func testContinuingEqualsConcatenation() {
        let bytes = Array("123456789".utf8)
        for split in 0...bytes.count {
            let first = CRC32C.checksum(Array(bytes[..<split]))
            XCTAssertEqual(CRC32C.checksum(Array(bytes[split...]), continuing: first), 0xE306_9283)
        }
    }
}
