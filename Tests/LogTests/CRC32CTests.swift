import XCTest

import Checksum

final class CRC32CTests: XCTestCase {
    /// The standard check value of CRC-32C (Castagnoli) over the ASCII digits "123456789".
    func testKnownAnswer() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([]), 0)
        // RFC 3720 (iSCSI) B.4: 32 bytes of zeros.
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
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
