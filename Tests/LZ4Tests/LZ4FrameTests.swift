import CLZ4
import XCTest

@testable import LZ4

/// SplitMix64: a tiny, well-mixed generator, so every "random" input here is reproducible.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SplitMix64 {
    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &self) }
    }
}

final class LZ4FrameTests: XCTestCase {
    /// Mixed text-like data that LZ4 compresses into real sequences, not just literals.
    static func sampleText(_ count: Int) -> [UInt8] {
        let words = ["broker ", "berth ", "partition ", "offset ", "replica ", "leader ", "log ", "ack "]
        var generator = SplitMix64(seed: 7)
        var text: [UInt8] = []
        while text.count < count {
            text += Array(words.randomElement(using: &generator)!.utf8)
        }
        return Array(text.prefix(count))
    }

    func assertRoundTrip(_ input: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws {
        let frame = LZ4Frame.compress(input)
        let output = try LZ4Frame.decompress(frame, maxOutputBytes: input.count)
        XCTAssertEqual(output, input, file: file, line: line)
    }

    /// The error decoding `frame` throws, or nil if it decodes.
    func decodeError(_ frame: [UInt8], maxOutputBytes: Int) -> LZ4FrameError? {
        do {
            _ = try LZ4Frame.decompress(frame, maxOutputBytes: maxOutputBytes)
            return nil
        } catch {
            return error
        }
    }

    /// A frame written by liblz4 directly, so tests can produce frames that
    /// `LZ4Frame.compress` never would.
    func rawFrame(_ input: [UInt8], contentChecksum: Bool, recordSize: Bool) -> [UInt8] {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.contentChecksumFlag =
            contentChecksum ? LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum
        preferences.frameInfo.contentSize = recordSize ? UInt64(input.count) : 0
        let capacity = LZ4F_compressFrameBound(input.count, &preferences)
        var frame = [UInt8](repeating: 0, count: capacity)
        let written = input.withUnsafeBytes { source in
            LZ4F_compressFrame(&frame, capacity, source.baseAddress, source.count, &preferences)
        }
        XCTAssertEqual(LZ4F_isError(written), 0)
        return Array(frame.prefix(written))
    }

    // MARK: Round trips

    func testRoundTripEmpty() throws {
        try assertRoundTrip([])
    }

    func testRoundTripOneByte() throws {
        try assertRoundTrip([0x2A])
    }

    func testRoundTripOneMebibyteOfRandomBytes() throws {
        var generator = SplitMix64(seed: 0xB0_57)
        let input = generator.bytes(1 << 20)
        let frame = LZ4Frame.compress(input)
        // Incompressible data is stored, not expanded by more than block overhead.
        XCTAssertLessThan(frame.count, input.count + input.count / 100)
        XCTAssertEqual(try LZ4Frame.decompress(frame, maxOutputBytes: input.count), input)
    }

    func testHighlyCompressibleDataShrinks() throws {
        let input = [UInt8]((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 % 16) })
        let frame = LZ4Frame.compress(input)
        XCTAssertLessThan(frame.count, input.count / 100)
        XCTAssertEqual(try LZ4Frame.decompress(frame, maxOutputBytes: input.count), input)
    }

    func testTextRoundTrip() throws {
        try assertRoundTrip(Self.sampleText(300_000))
    }

    func testCollectionOverloadsAgree() throws {
        let input = Self.sampleText(5_000)
        let frame = LZ4Frame.compress(input)
        XCTAssertEqual(input.withUnsafeBytes { LZ4Frame.compress($0) }, frame)
        XCTAssertEqual(LZ4Frame.compress(input[...]), frame)
        // A collection without contiguous storage takes the copying path.
        XCTAssertEqual(LZ4Frame.compress(input.lazy.map { $0 }), frame)

        let padded = [0xEE] + frame + [0xEE]
        XCTAssertEqual(try LZ4Frame.decompress(padded.dropFirst().dropLast(), maxOutputBytes: input.count), input)
        XCTAssertEqual(try LZ4Frame.decompress(frame.lazy.map { $0 }, maxOutputBytes: input.count), input)
        let viaPointer = try frame.withUnsafeBytes { bytes throws(LZ4FrameError) in
            try LZ4Frame.decompress(bytes, maxOutputBytes: input.count)
        }
        XCTAssertEqual(viaPointer, input)
    }

    // MARK: Frame header

    func testFrameHeaderHasMagicContentChecksumAndContentSize() {
        let input = Self.sampleText(1_000)
        let frame = LZ4Frame.compress(input)
        XCTAssertEqual(Array(frame.prefix(4)), [0x04, 0x22, 0x4D, 0x18], "magic 0x184D2204, little-endian")
        let flags = frame[4]
        XCTAssertEqual(flags >> 6, 0b01, "frame format version")
        XCTAssertNotEqual(flags & 0b0000_0100, 0, "content checksum flag")
        XCTAssertNotEqual(flags & 0b0000_1000, 0, "content size flag")
        // The content size follows FLG and BD as a little-endian UInt64.
        let contentSize = frame[6..<14].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        XCTAssertEqual(contentSize, UInt64(input.count))
    }

    func testEmptyFrameStillHasContentChecksum() {
        let frame = LZ4Frame.compress([UInt8]())
        XCTAssertEqual(Array(frame.prefix(4)), [0x04, 0x22, 0x4D, 0x18])
        XCTAssertNotEqual(frame[4] & 0b0000_0100, 0)
    }

    // MARK: Corruption

    /// Flips bits at `positions`; each damaged frame must throw or decode to
    /// exactly `original`. Returns how many decoded.
    ///
    /// Decoding can legitimately succeed: in repetitive data a flipped match
    /// offset may point at other, identical bytes, so the contents (and their
    /// checksum) are unchanged. Anything else must be caught.
    @discardableResult
    func assertCorruptionDetected(
        _ frame: [UInt8], original: [UInt8], positions: some Sequence<Int>,
        file: StaticString = #filePath, line: UInt = #line
    ) -> Int {
        var accepted = 0
        for position in positions {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = frame
                damaged[position] ^= mask
                do {
                    let output = try LZ4Frame.decompress(damaged, maxOutputBytes: original.count)
                    accepted += 1
                    XCTAssertEqual(output, original, "flip \(mask) at \(position) decoded to other bytes",
                                   file: file, line: line)
                } catch {
                    // Expected: the typed error is all the signature allows.
                }
            }
        }
        return accepted
    }

    func testEveryByteFlipInSmallFrameThrowsOrChangesNothing() {
        let input = Self.sampleText(200)
        let frame = LZ4Frame.compress(input)
        assertCorruptionDetected(frame, original: input, positions: frame.indices)
    }

    func testEveryByteFlipInSmallIncompressibleFrameThrows() {
        // Random bytes are stored as they are, so every byte of the frame is
        // either structure, covered by the header checksum, or content, covered
        // by the content checksum: no flip can leave the contents unchanged.
        var generator = SplitMix64(seed: 11)
        let input = generator.bytes(200)
        let frame = LZ4Frame.compress(input)
        XCTAssertEqual(assertCorruptionDetected(frame, original: input, positions: frame.indices), 0)
    }

    func testEveryByteFlipInEmptyFrameThrows() {
        let frame = LZ4Frame.compress([UInt8]())
        XCTAssertEqual(assertCorruptionDetected(frame, original: [], positions: frame.indices), 0)
    }

    func testSampledByteFlipsInLargeFrameThrowOrChangeNothing() {
        let input = Self.sampleText(300_000)
        let frame = LZ4Frame.compress(input)
        var generator = SplitMix64(seed: 99)
        let sampled = (0..<300).map { _ in Int.random(in: frame.indices, using: &generator) }
        let edges = Array(frame.indices.prefix(32)) + Array(frame.indices.suffix(32))
        assertCorruptionDetected(frame, original: input, positions: edges + sampled)
    }

    func testSampledByteFlipsInLargeIncompressibleFrameThrow() {
        var generator = SplitMix64(seed: 12)
        let input = generator.bytes(300_000)
        let frame = LZ4Frame.compress(input)
        let sampled = (0..<300).map { _ in Int.random(in: frame.indices, using: &generator) }
        let edges = Array(frame.indices.prefix(32)) + Array(frame.indices.suffix(32))
        XCTAssertEqual(assertCorruptionDetected(frame, original: input, positions: edges + sampled), 0)
    }

    func testWrongContentChecksumIsReportedByName() {
        let input = Self.sampleText(200)
        var frame = LZ4Frame.compress(input)
        frame[frame.count - 1] ^= 0x01
        XCTAssertEqual(decodeError(frame, maxOutputBytes: input.count), .corrupt("ERROR_contentChecksum_invalid"))
    }

    // MARK: Truncation and trailing bytes

    func testEveryTruncationOfSmallFrameIsTruncated() {
        let input = Self.sampleText(200)
        let frame = LZ4Frame.compress(input)
        for length in 0..<frame.count {
            XCTAssertEqual(decodeError(Array(frame.prefix(length)), maxOutputBytes: input.count), .truncated,
                           "length \(length)")
        }
    }

    func testEveryTruncationOfEmptyFrameIsTruncated() {
        let frame = LZ4Frame.compress([UInt8]())
        for length in 0..<frame.count {
            XCTAssertEqual(decodeError(Array(frame.prefix(length)), maxOutputBytes: 0), .truncated, "length \(length)")
        }
    }

    func testSampledTruncationsOfLargeFrameAreTruncated() {
        let input = Self.sampleText(300_000)
        let frame = LZ4Frame.compress(input)
        var generator = SplitMix64(seed: 5)
        let lengths = (0..<100).map { _ in Int.random(in: 0..<frame.count, using: &generator) } + [frame.count - 1]
        for length in lengths {
            XCTAssertEqual(decodeError(Array(frame.prefix(length)), maxOutputBytes: input.count), .truncated,
                           "length \(length)")
        }
    }

    func testTrailingBytesThrow() {
        let input = Self.sampleText(200)
        let frame = LZ4Frame.compress(input)
        XCTAssertEqual(decodeError(frame + [0], maxOutputBytes: input.count), .trailingBytes(count: 1))
        XCTAssertEqual(decodeError(frame + [UInt8](repeating: 0xAB, count: 100), maxOutputBytes: input.count),
                       .trailingBytes(count: 100))
        // Even a second valid frame is not accepted: the input must be exactly one frame.
        XCTAssertEqual(decodeError(frame + frame, maxOutputBytes: 2 * input.count),
                       .trailingBytes(count: frame.count))
    }

    // MARK: Output limit

    func testOutputLimitFromHeaderIsEnforced() throws {
        let input = Self.sampleText(1_000)
        let frame = LZ4Frame.compress(input)
        XCTAssertEqual(try LZ4Frame.decompress(frame, maxOutputBytes: 1_000), input)
        XCTAssertEqual(decodeError(frame, maxOutputBytes: 999), .outputLimitExceeded(limit: 999))
        XCTAssertEqual(decodeError(frame, maxOutputBytes: 0), .outputLimitExceeded(limit: 0))
    }

    func testOutputLimitIsEnforcedWhenSizeIsNotRecorded() throws {
        // Without a recorded size the limit can only be enforced while decoding.
        let input = [UInt8](repeating: 7, count: 1 << 20)
        let frame = rawFrame(input, contentChecksum: true, recordSize: false)
        XCTAssertEqual(try LZ4Frame.decompress(frame, maxOutputBytes: input.count), input)
        XCTAssertEqual(decodeError(frame, maxOutputBytes: input.count - 1),
                       .outputLimitExceeded(limit: input.count - 1))
        XCTAssertEqual(decodeError(frame, maxOutputBytes: 100), .outputLimitExceeded(limit: 100))
    }

    // MARK: Frames this wrapper never writes

    func testFrameWithoutContentChecksumIsRejected() {
        let input = Self.sampleText(1_000)
        let frame = rawFrame(input, contentChecksum: false, recordSize: true)
        XCTAssertEqual(decodeError(frame, maxOutputBytes: input.count), .missingContentChecksum)
    }

    func testSkippableFrameIsRejected() {
        // Magic 0x184D2A50, then a 4-byte little-endian length, then that many bytes.
        let skippable: [UInt8] = [0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]
        guard case .corrupt = decodeError(skippable, maxOutputBytes: 100) else {
            return XCTFail("skippable frame accepted or misreported")
        }
    }

    func testWrongMagicIsCorrupt() {
        var frame = LZ4Frame.compress(Self.sampleText(100))
        frame[0] = 0x00
        XCTAssertEqual(decodeError(frame, maxOutputBytes: 100), .corrupt("ERROR_frameType_unknown"))
    }

    // MARK: Garbage

    func testRandomGarbageNeverDecodes() {
        var generator = SplitMix64(seed: 2024)
        for _ in 0..<3_000 {
            let garbage = generator.bytes(Int.random(in: 0...300, using: &generator))
            XCTAssertNotNil(decodeError(garbage, maxOutputBytes: 1 << 20))
        }
    }

    func testGarbageAfterValidHeaderNeverDecodes() {
        // Keep a real header so the garbage reaches the block decoder.
        let header = Array(LZ4Frame.compress(Self.sampleText(10_000)).prefix(15))
        var generator = SplitMix64(seed: 4048)
        for _ in 0..<3_000 {
            let garbage = header + generator.bytes(Int.random(in: 0...300, using: &generator))
            XCTAssertNotNil(decodeError(garbage, maxOutputBytes: 1 << 20))
        }
    }

    func testRandomlyDamagedFramesNeverDecodeToOtherBytes() {
        let input = Self.sampleText(2_000)
        let frame = LZ4Frame.compress(input)
        var generator = SplitMix64(seed: 31337)
        for _ in 0..<2_000 {
            var damaged = frame
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                damaged[Int.random(in: damaged.indices, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            if let output = try? LZ4Frame.decompress(damaged, maxOutputBytes: input.count) {
                XCTAssertEqual(output, input)
            }
        }
    }
}
