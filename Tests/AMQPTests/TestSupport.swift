import AMQP
import NIOCore
import NIOEmbedded
import XCTest

extension ByteBuffer {
    /// A buffer holding the bytes spelled by `hex` (whitespace ignored).
    init(hex: String) {
        let digits = Array(hex.filter { !$0.isWhitespace })
        precondition(digits.count % 2 == 0, "odd number of hex digits")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            bytes.append(UInt8(String(digits[index...index + 1]), radix: 16)!)
        }
        self.init(bytes: bytes)
    }

    /// The readable bytes in lower-case hex.
    var hex: String {
        self.readableBytesView.map { byte in
            let digits = String(byte, radix: 16)
            return byte < 16 ? "0" + digits : digits
        }.joined()
    }
}

/// The bytes of `frames`, encoded one after the other.
func encoded(_ frames: Frame...) throws -> ByteBuffer {
    try encoded(frames)
}

func encoded(_ frames: [Frame]) throws -> ByteBuffer {
    var buffer = ByteBuffer()
    for frame in frames {
        try FrameWriter.writeFrame(frame, into: &buffer)
    }
    return buffer
}

/// Parses every whole frame in `buffer` with `parser`.
func parseAll(_ buffer: ByteBuffer, parser: FrameParser = FrameParser()) throws(AMQPError) -> [Frame] {
    var parser = parser
    var buffer = buffer
    var frames: [Frame] = []
    while let frame = try parser.parseFrame(from: &buffer) {
        frames.append(frame)
    }
    return frames
}

/// Asserts that `body` throws an `AMQPError` with `replyCode`, and returns it.
@discardableResult
func assertThrowsAMQPError<T>(
    _ replyCode: ReplyCode,
    file: StaticString = #filePath,
    line: UInt = #line,
    _ body: () throws -> T
) -> AMQPError? {
    do {
        let result = try body()
        XCTFail("expected \(replyCode), got \(result)", file: file, line: line)
        return nil
    } catch let error as AMQPError {
        XCTAssertEqual(error.replyCode, replyCode, "\(error)", file: file, line: line)
        return error
    } catch {
        XCTFail("expected AMQPError \(replyCode), got \(error)", file: file, line: line)
        return nil
    }
}

/// SplitMix64: a small seeded generator, so every random test replays from its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A test shell: routes the decoder's frames to one `ContentAssembler` per channel and
/// passes on what they assemble, so tests can feed bytes and see whole messages.
final class AssemblingHandler: ChannelInboundHandler {
    typealias InboundIn = AMQPFrameDecoder.Inbound
    typealias InboundOut = AssembledMethod

    private var assemblers: [UInt16: ContentAssembler] = [:]
    private let messageSizeMax: UInt64

    init(messageSizeMax: UInt64 = ContentAssembler.messageSizeMaxDefault) {
        self.messageSizeMax = messageSizeMax
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .frame(let frame) = Self.unwrapInboundIn(data), frame != .heartbeat else {
            return
        }
        var assembler = self.assemblers[frame.channel]
            ?? ContentAssembler(channel: frame.channel, messageSizeMax: self.messageSizeMax)
        defer { self.assemblers[frame.channel] = assembler }
        do {
            if let assembled = try assembler.receive(frame) {
                context.fireChannelRead(Self.wrapInboundOut(assembled))
            }
        } catch {
            context.fireErrorCaught(error)
        }
    }
}

/// A channel with the server-side decoder (expecting frames only, as after the protocol
/// header) and the test shell.
func makeAssemblingChannel(
    frameSizeMax: UInt32 = FrameParser.frameSizeMaxDefault,
    channelMax: UInt16 = FrameParser.channelMaxDefault,
    messageSizeMax: UInt64 = ContentAssembler.messageSizeMaxDefault
) throws -> EmbeddedChannel {
    let channel = EmbeddedChannel()
    try channel.pipeline.syncOperations.addHandler(
        ByteToMessageHandler(AMQPFrameDecoder(role: .client, frameSizeMax: frameSizeMax, channelMax: channelMax))
    )
    try channel.pipeline.syncOperations.addHandler(AssemblingHandler(messageSizeMax: messageSizeMax))
    return channel
}
