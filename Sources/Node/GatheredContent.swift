import AMQP

/// The frames of one content — the method that carries it, its header, its bodies — gathered
/// so that they travel together.
struct GatheredContent {
    private(set) var frames: [Frame]
    /// Nil until the header comes.
    private var bodySize: UInt64?
    private var bodyBytes: UInt64 = 0

    init(method: Frame) {
        frames = [method]
    }

    var isComplete: Bool { bodySize == bodyBytes }

    /// Takes the header, then body frames up to the size it announced; a frame out of place
    /// is the error the content assembler gives for it.
    mutating func add(_ frame: Frame) throws(AMQPError) {
        switch (frame, bodySize) {
        case (.header(_, let header), nil):
            bodySize = header.bodySize
        case (.header(let channel, _), _?):
            throw .unexpectedFrame(.contentHeaderDuringBody, channel: channel)
        case (.body(let channel, _), nil):
            throw .unexpectedFrame(.contentBodyWithoutHeader, channel: channel)
        case (.body(let channel, let body), let declared?):
            let received = bodyBytes + UInt64(body.readableBytes)
            guard received <= declared else { throw .bodyExceedsDeclaredSize(channel: channel, bodySize: declared, received: received) }
            bodyBytes = received
        case (.method(let channel, let method), _):
            throw .unexpectedFrame(.methodDuringContent(method.id), channel: channel)
        case (.heartbeat, _):
            return
        }
        frames.append(frame)
    }
}
