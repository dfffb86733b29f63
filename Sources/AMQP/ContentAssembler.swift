import NIOCore

/// Assembles one channel's frames into methods and messages (amqp0-9-1 §4.2.6).
///
/// A pure state machine, one per open channel. After a content-bearing method
/// (basic.publish, basic.return, basic.deliver, basic.get-ok) it expects exactly one
/// content header of the same class, then body frames whose payloads add up to the
/// header's body-size (none when body-size is 0). Any other frame on the channel in
/// between is 505 UNEXPECTED_FRAME; more body bytes than declared are 501 FRAME_ERROR
/// (RabbitMQ's answer too); a body-size above `messageSizeMax` is 406
/// PRECONDITION_FAILED, a channel error, as RabbitMQ answers `max_message_size`.
///
/// After it throws, the assembler is failed and every later call throws the same
/// error. For a hard error the connection closes. For the soft one (406) the shell
/// closes the channel, discards the channel's frames until `channel.close-ok`, and
/// then calls `reset()` (or makes a new assembler) before the channel is opened again.
public struct ContentAssembler: Sendable {
    enum State: Sendable {
        /// Between methods.
        case awaitingMethod
        /// A content-bearing method came; its content header must come next.
        case awaitingHeader(ContentMethod)
        /// The header came; body frames must follow until `body` holds `header.bodySize`.
        case awaitingBody(ContentMethod, ContentHeader, MessageBody)
        /// An error was thrown.
        case failed(AMQPError)
    }

    /// RabbitMQ 4's default `max_message_size`, 16 MiB.
    public static let messageSizeMaxDefault: UInt64 = 16 * 1024 * 1024

    /// The channel whose frames this assembler takes.
    public let channel: UInt16

    /// The largest body accepted, in bytes; checked against the content header's
    /// body-size before any body byte arrives.
    public var messageSizeMax: UInt64

    private(set) var state: State = .awaitingMethod

    public init(channel: UInt16, messageSizeMax: UInt64 = ContentAssembler.messageSizeMaxDefault) {
        self.channel = channel
        self.messageSizeMax = messageSizeMax
    }

    /// True between a content-bearing method and the last byte of its body.
    public var isAssemblingContent: Bool {
        switch self.state {
        case .awaitingHeader, .awaitingBody: true
        case .awaitingMethod, .failed: false
        }
    }

    /// Takes the next frame of this channel.
    ///
    /// MUST be given only frames of `channel`, and no heartbeats (they belong to the
    /// connection, which handles them before routing frames to channels).
    ///
    /// - Returns: a method, or a method with its content, when one is complete; nil while
    ///   a content header or body frames are still expected.
    public mutating func receive(_ frame: Frame) throws(AMQPError) -> AssembledMethod? {
        precondition(frame.channel == self.channel, "frame for channel \(frame.channel) given to channel \(self.channel)")
        if case .failed(let error) = self.state {
            throw error
        }
        switch frame {
        case .method(_, let method):
            return try self.receiveMethod(method)
        case .header(_, let header):
            return try self.receiveHeader(header)
        case .body(_, let part):
            return try self.receiveBody(part)
        case .heartbeat:
            preconditionFailure("heartbeats belong to the connection, not to channel \(self.channel)")
        }
    }

    /// Forgets any partial message and any error: back to awaiting a method.
    public mutating func reset() {
        self.state = .awaitingMethod
    }

    private mutating func receiveMethod(_ method: Method) throws(AMQPError) -> AssembledMethod? {
        switch self.state {
        case .awaitingMethod:
            guard let contentMethod = method.contentMethod else {
                return .method(method)
            }
            self.state = .awaitingHeader(contentMethod)
            return nil
        case .awaitingHeader, .awaitingBody:
            throw self.fail(.unexpectedFrame(.methodDuringContent(method.id), channel: self.channel))
        case .failed(let error):
            throw error
        }
    }

    private mutating func receiveHeader(_ header: ContentHeader) throws(AMQPError) -> AssembledMethod? {
        switch self.state {
        case .awaitingHeader(let contentMethod):
            return try self.begin(contentMethod, header)
        case .awaitingMethod:
            throw self.fail(.unexpectedFrame(.contentHeaderWithoutMethod, channel: self.channel))
        case .awaitingBody:
            throw self.fail(.unexpectedFrame(.contentHeaderDuringBody, channel: self.channel))
        case .failed(let error):
            throw error
        }
    }

    private mutating func receiveBody(_ part: ByteBuffer) throws(AMQPError) -> AssembledMethod? {
        guard case .awaitingBody(let contentMethod, let header, var body) = self.state else {
            if case .failed(let error) = self.state {
                throw error
            }
            throw self.fail(.unexpectedFrame(.contentBodyWithoutHeader, channel: self.channel))
        }
        // Drop the state's reference first, so that `body` is unique and grows in place.
        self.state = .awaitingMethod
        return try self.accumulate(part, into: &body, contentMethod, header)
    }

    private mutating func begin(_ contentMethod: ContentMethod, _ header: ContentHeader) throws(AMQPError)
        -> AssembledMethod?
    {
        guard header.classID == contentMethod.classID else {
            let mismatch = AMQPError.UnexpectedFrame.contentHeaderClassMismatch(
                expected: contentMethod.classID,
                received: header.classID
            )
            throw self.fail(.unexpectedFrame(mismatch, channel: self.channel))
        }
        guard header.weight == 0 else {
            throw self.fail(.unexpectedFrame(.contentHeaderWeightNonZero(header.weight), channel: self.channel))
        }
        guard header.bodySize <= self.messageSizeMax else {
            throw self.fail(
                .messageTooLarge(
                    bodySize: header.bodySize,
                    messageSizeMax: self.messageSizeMax,
                    method: contentMethod.method.id
                )
            )
        }
        guard header.bodySize > 0 else {
            self.state = .awaitingMethod
            return .content(contentMethod, header, MessageBody())
        }
        self.state = .awaitingBody(contentMethod, header, MessageBody())
        return nil
    }

    private mutating func accumulate(
        _ part: ByteBuffer,
        into body: inout MessageBody,
        _ contentMethod: ContentMethod,
        _ header: ContentHeader
    ) throws(AMQPError) -> AssembledMethod? {
        let received = UInt64(body.byteCount) + UInt64(part.readableBytes)
        guard received <= header.bodySize else {
            throw self.fail(
                .bodyExceedsDeclaredSize(channel: self.channel, bodySize: header.bodySize, received: received)
            )
        }
        // bodySize <= messageSizeMax, which the shell keeps far below Int.max.
        body.append(part, bytesStillExpected: Int(header.bodySize - received))
        guard received == header.bodySize else {
            self.state = .awaitingBody(contentMethod, header, body)
            return nil
        }
        return .content(contentMethod, header, body)
    }

    private mutating func fail(_ error: AMQPError) -> AMQPError {
        self.state = .failed(error)
        return error
    }
}
