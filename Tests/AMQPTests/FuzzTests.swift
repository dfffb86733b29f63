import AMQP
import NIOCore
import XCTest

/// Seeded random input that must never crash the codec: the parser returns frames or
/// throws an `AMQPError` (typed throws make anything else impossible), the assembler
/// likewise, and whatever parses re-encodes to bytes that parse to the same frames.
/// Each test prints its seed; a failure replays by setting it.
final class FuzzTests: XCTestCase {
    static let seed: UInt64 = 0xB0A7_2024_0009_0001

    func testRandomGarbageNeverCrashes() {
        var random = SplitMix64(seed: Self.seed)
        print("FuzzTests.testRandomGarbageNeverCrashes seed \(Self.seed)")
        var tally = Tally()
        for _ in 0..<15_000 {
            let count = Int.random(in: 0...96, using: &random)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            tally.add(Self.check(ByteBuffer(bytes: bytes), using: &random))
        }
        print(tally.summary)
    }

    /// Garbage behind a plausible frame header, so it reaches the method, header and
    /// field-table decoders instead of stopping at the frame type.
    func testRandomPayloadsBehindValidHeadersNeverCrash() {
        var random = SplitMix64(seed: Self.seed &+ 1)
        print("FuzzTests.testRandomPayloadsBehindValidHeadersNeverCrash seed \(Self.seed &+ 1)")
        // Sorted: a Set's order changes from process to process, and the seed must replay.
        let knownIDs = Set(pikaMethodVectors.map(\.method.id)).sorted {
            ($0.classID, $0.methodID) < ($1.classID, $1.methodID)
        }
        var tally = Tally()
        for _ in 0..<15_000 {
            let type = [FrameType.method, .method, .method, .header, .body].randomElement(using: &random)!
            let channel = UInt16.random(in: 0...3, using: &random)
            var payload = ByteBuffer()
            switch type {
            case .method:
                let id = knownIDs.randomElement(using: &random)!
                payload.writeInteger(id.classID)
                payload.writeInteger(id.methodID)
            case .header:
                payload.writeInteger(UInt16(60))
                payload.writeInteger(UInt16(0))
                payload.writeInteger(UInt64.random(in: 0...100, using: &random))
            case .body, .heartbeat:
                break
            }
            for _ in 0..<Int.random(in: 0...64, using: &random) {
                // Bias towards small numbers and type letters, which decode further.
                let byte: UInt8 = switch Int.random(in: 0..<4, using: &random) {
                case 0: UInt8.random(in: 0...4, using: &random)
                case 1: Array("tbBsuIilfdDSxATFV".utf8).randomElement(using: &random)!
                default: UInt8.random(in: 0...255, using: &random)
                }
                payload.writeInteger(byte)
            }
            var frame = ByteBuffer()
            frame.writeInteger(type.rawValue)
            frame.writeInteger(channel)
            frame.writeInteger(UInt32(payload.readableBytes))
            frame.writeBuffer(&payload)
            frame.writeInteger(Frame.endOctet)
            tally.add(Self.check(frame, using: &random))
        }
        print(tally.summary)
        XCTAssertGreaterThan(tally.frames, 1000, "random payloads should often decode")
    }

    /// Valid frames (every pika vector, content headers with every property and field
    /// type) with a few bytes flipped, replaced, inserted, deleted or cut off.
    func testMutatedValidFramesNeverCrash() throws {
        var random = SplitMix64(seed: Self.seed &+ 2)
        print("FuzzTests.testMutatedValidFramesNeverCrash seed \(Self.seed &+ 2)")
        var corpus = pikaMethodVectors.map { ByteBuffer(hex: $0.bytes) }
        corpus.append(ByteBuffer(hex: BasicPropertiesTests.pikaHeaderWithEveryProperty))
        corpus.append(try encoded(AMQPFrameDecoderTests.sampleFrames))
        var tally = Tally()
        for _ in 0..<20_000 {
            var bytes = Array(corpus.randomElement(using: &random)!.readableBytesView)
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                Self.mutate(&bytes, using: &random)
            }
            tally.add(Self.check(ByteBuffer(bytes: bytes), using: &random))
        }
        print(tally.summary)
    }

    // MARK: Helpers

    static func mutate(_ bytes: inout [UInt8], using random: inout SplitMix64) {
        guard !bytes.isEmpty else {
            bytes.append(UInt8.random(in: 0...255, using: &random))
            return
        }
        let index = Int.random(in: 0..<bytes.count, using: &random)
        switch Int.random(in: 0..<6, using: &random) {
        case 0: bytes[index] ^= 1 << UInt8.random(in: 0..<8, using: &random)
        case 1: bytes[index] = UInt8.random(in: 0...255, using: &random)
        case 2: bytes.insert(UInt8.random(in: 0...255, using: &random), at: index)
        case 3: bytes.remove(at: index)
        case 4: bytes.removeSubrange(index...)
        default: bytes[index] = [0x00, 0x01, 0x7F, 0x80, 0xCE, 0xFF].randomElement(using: &random)!
        }
    }

    /// Parses `input` whole and in random chunks (which must agree), assembles what
    /// parses, and checks that every parsed frame re-encodes canonically.
    @discardableResult
    static func check(_ input: ByteBuffer, using random: inout SplitMix64) -> Outcome {
        let whole = Self.parse(input, chunkSizeMax: nil, using: &random)
        let chunked = Self.parse(input, chunkSizeMax: Int.random(in: 1...16, using: &random), using: &random)
        XCTAssertEqual(whole.frames.count, chunked.frames.count, "input \(input.hex)")
        XCTAssertEqual(whole.error, chunked.error, "input \(input.hex)")
        if let error = whole.error {
            XCTAssertLessThanOrEqual(error.replyText.utf8.count, 255)
        }

        var assemblers: [UInt16: ContentAssembler] = [:]
        for frame in whole.frames where frame != .heartbeat {
            var assembler = assemblers[frame.channel] ?? ContentAssembler(channel: frame.channel, messageSizeMax: 64)
            _ = try? assembler.receive(frame)
            assemblers[frame.channel] = assembler

            // Re-encoding is canonical: encode(parse(encode(frame))) == encode(frame).
            guard let first = try? encoded(frame) else {
                XCTFail("a parsed frame failed to encode: \(frame)")
                continue
            }
            do {
                let reparsed = try parseAll(first, parser: Self.parser())
                XCTAssertEqual(reparsed.count, 1)
                XCTAssertEqual(try encoded(reparsed), first, "input \(input.hex)")
            } catch {
                XCTFail("re-encoded frame does not parse: \(error), input \(input.hex)")
            }
        }
        return Outcome(frameCount: whole.frames.count, replyCode: whole.error?.replyCode)
    }

    /// What one input came to, for the summary each test prints.
    struct Outcome {
        var frameCount: Int
        var replyCode: ReplyCode?
    }

    /// Counts outcomes, so that a change that stops the input from reaching the decoders
    /// shows in the printed mix.
    struct Tally {
        var inputs = 0
        var frames = 0
        var errors: [UInt16: Int] = [:]

        mutating func add(_ outcome: Outcome) {
            self.inputs += 1
            self.frames += outcome.frameCount
            if let code = outcome.replyCode {
                self.errors[code.rawValue, default: 0] += 1
            }
        }

        var summary: String {
            let errors = self.errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            return "\(self.inputs) inputs, \(self.frames) frames parsed, errors by reply code [\(errors)]"
        }
    }

    static func parser() -> FrameParser {
        FrameParser(frameSizeMax: 1 << 16, channelMax: 64)
    }

    static func parse(
        _ input: ByteBuffer,
        chunkSizeMax: Int?,
        using random: inout SplitMix64
    ) -> (frames: [Frame], error: AMQPError?) {
        var parser = Self.parser()
        var buffer = ByteBuffer()
        var frames: [Frame] = []
        var offset = 0
        repeat {
            let length = chunkSizeMax.map { min(Int.random(in: 1...$0, using: &random), input.readableBytes - offset) }
                ?? input.readableBytes
            buffer.writeImmutableBuffer(input.getSlice(at: input.readerIndex + offset, length: length)!)
            offset += length
            do {
                while let frame = try parser.parseFrame(from: &buffer) {
                    frames.append(frame)
                }
            } catch {
                return (frames, error)
            }
        } while offset < input.readableBytes
        return (frames, nil)
    }
}
