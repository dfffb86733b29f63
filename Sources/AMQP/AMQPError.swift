/// Everything the codec rejects, each case mapped to the reply code the server must send.
///
/// Closed on purpose: every way bad input can fail is a case here, so the shell can
/// `switch` over them. A thrown `AMQPError` is the answer to bad input, never a crash.
/// `replyCode`, `replyText`, `classID` and `methodID` are ready to go into a
/// `connection.close` (when `isHardError`) or a `channel.close` (otherwise).
public enum AMQPError: Error, Hashable, Sendable {
    // MARK: 501 FRAME_ERROR

    /// The frame type octet is not 1 (method), 2 (header), 3 (body) or 8 (heartbeat).
    case frameTypeUnknown(UInt8)
    /// The frame header announced a frame larger than the negotiated frame-max
    /// (the 7-byte header, the payload and the frame-end octet count). Raised from the
    /// header alone, before the payload is waited for.
    case frameTooLarge(payloadSize: UInt32, frameSizeMax: UInt32)
    /// The octet after the payload is not the frame-end octet 0xCE.
    case frameEndInvalid(UInt8)
    /// A heartbeat frame on a channel other than 0 or with a payload (amqp0-9-1 §4.2.7).
    case heartbeatInvalid(channel: UInt16, payloadSize: UInt32)
    /// Body frames carried more bytes than the content header's body-size. RabbitMQ
    /// answers this with FRAME_ERROR ("content body frame exceeds remaining content
    /// size"), and so do we.
    case bodyExceedsDeclaredSize(channel: UInt16, bodySize: UInt64, received: UInt64)

    // MARK: 502 SYNTAX_ERROR

    /// Fields that do not decode (or cannot be encoded). `method` is the method whose
    /// fields failed, nil for a content header or a bare field table.
    case syntaxError(SyntaxError, method: MethodID?)

    // MARK: 503 COMMAND_INVALID

    /// A `connection` method on a channel other than 0, or a method of another class on
    /// channel 0.
    case methodOnWrongChannel(MethodID, channel: UInt16)

    // MARK: 504 CHANNEL_ERROR

    /// A frame on a channel number above the negotiated channel-max.
    case channelOutOfRange(channel: UInt16, channelMax: UInt16)

    // MARK: 505 UNEXPECTED_FRAME

    /// A frame out of place in the method / content header / content body sequence.
    case unexpectedFrame(UnexpectedFrame, channel: UInt16)

    // MARK: 540 NOT_IMPLEMENTED

    /// A method frame whose class id and method id name no method we know.
    case methodUnknown(MethodID)

    // MARK: 406 PRECONDITION_FAILED (soft: closes the channel)

    /// A content header announced a body larger than the configured maximum message size.
    /// RabbitMQ (`max_message_size`) closes the channel with PRECONDITION_FAILED, "message
    /// size N is larger than configured max size M"; we do the same, but from the content
    /// header's body-size, before any body byte is buffered.
    case messageTooLarge(bodySize: UInt64, messageSizeMax: UInt64, method: MethodID)
}

extension AMQPError {
    /// Why fields failed to decode or encode (all answered with 502 SYNTAX_ERROR).
    public enum SyntaxError: Hashable, Sendable {
        /// The payload ended in the middle of a field.
        case truncated
        /// Bytes were left over after the last field of a method or content header.
        case trailingBytes(count: Int)
        /// A shortstr (or field name) longer than 255 bytes of UTF-8 (encoding only: on
        /// the wire the length is one octet).
        case shortStringTooLong(byteCount: Int)
        /// A shortstr (or field name) that is not valid UTF-8.
        case shortStringNotUTF8
        /// A field table or array value with a type octet we do not know.
        case fieldTypeUnknown(UInt8)
        /// Field tables and arrays nested deeper than `FieldTable.nestingDepthMax`.
        case nestingTooDeep
        /// Property flags for properties the class does not have.
        case propertyFlagsUnknown(UInt16)
    }

    /// What was out of place (all answered with 505 UNEXPECTED_FRAME).
    public enum UnexpectedFrame: Hashable, Sendable {
        /// A content header or body frame on channel 0, where no content is ever sent.
        case contentOnChannelZero
        /// A content header when no content-bearing method came before it.
        case contentHeaderWithoutMethod
        /// A content body frame when no content header came before it.
        case contentBodyWithoutHeader
        /// A second content header while body frames were expected.
        case contentHeaderDuringBody
        /// A method frame while a content header or content body frames were expected.
        case methodDuringContent(MethodID)
        /// A content header whose class is not the class of the method before it (or a
        /// class that carries no content at all: in 0-9-1 only basic, 60, does).
        case contentHeaderClassMismatch(expected: UInt16, received: UInt16)
        /// A content header whose weight is not zero. RabbitMQ treats this as
        /// UNEXPECTED_FRAME too.
        case contentHeaderWeightNonZero(UInt16)
    }
}

extension AMQPError {
    /// The reply code to send.
    public var replyCode: ReplyCode {
        switch self {
        case .frameTypeUnknown, .frameTooLarge, .frameEndInvalid, .heartbeatInvalid, .bodyExceedsDeclaredSize:
            .frameError
        case .syntaxError:
            .syntaxError
        case .methodOnWrongChannel:
            .commandInvalid
        case .channelOutOfRange:
            .channelError
        case .unexpectedFrame:
            .unexpectedFrame
        case .methodUnknown:
            .notImplemented
        case .messageTooLarge:
            .preconditionFailed
        }
    }

    /// True when the error closes the connection, false when it closes only a channel.
    public var isHardError: Bool {
        self.replyCode.isHardError
    }

    /// The method that provoked the error, when there is one (for the class-id and
    /// method-id fields of the close method; send 0, 0 when nil).
    public var method: MethodID? {
        switch self {
        case .frameTypeUnknown, .frameTooLarge, .frameEndInvalid, .heartbeatInvalid, .channelOutOfRange:
            nil
        case .bodyExceedsDeclaredSize, .unexpectedFrame:
            nil
        case .syntaxError(_, let method):
            method
        case .methodOnWrongChannel(let method, _), .methodUnknown(let method):
            method
        case .messageTooLarge(_, _, let method):
            method
        }
    }

    /// The class id for the close method: the failing method's class, or 0.
    public var classID: UInt16 {
        self.method?.classID ?? 0
    }

    /// The method id for the close method: the failing method's id, or 0.
    public var methodID: UInt16 {
        self.method?.methodID ?? 0
    }

    /// The reply text for the close method, in RabbitMQ's form ("FRAME_ERROR - ...").
    /// At most 255 bytes of UTF-8, so it always fits the shortstr it goes into.
    public var replyText: String {
        let text = "\(self.replyCode.name ?? "ERROR") - \(self.detail)"
        return ShortString.replyText(text)
    }

    /// The human-readable part of `replyText`.
    var detail: String {
        switch self {
        case .frameTypeUnknown(let type):
            return "unknown frame type \(type)"
        case .frameTooLarge(let payloadSize, let frameSizeMax):
            let frameSize = UInt64(payloadSize) + UInt64(Frame.overheadSize)
            return "frame size \(frameSize) is larger than negotiated frame-max \(frameSizeMax)"
        case .frameEndInvalid(let octet):
            return "frame-end octet \(octet), expected \(Frame.endOctet)"
        case .heartbeatInvalid(let channel, let payloadSize):
            return "heartbeat frame on channel \(channel) with a payload of \(payloadSize) bytes"
        case .bodyExceedsDeclaredSize(let channel, let bodySize, let received):
            return "content body on channel \(channel) exceeds the declared body-size \(bodySize) (received \(received))"
        case .syntaxError(let problem, let method):
            let place = method.map { " in \($0)" } ?? ""
            return "\(problem.detail)\(place)"
        case .methodOnWrongChannel(let method, let channel):
            return channel == 0
                ? "method \(method) is not allowed on channel 0"
                : "connection method \(method) is only allowed on channel 0, not \(channel)"
        case .channelOutOfRange(let channel, let channelMax):
            return "channel \(channel) is above the negotiated channel-max \(channelMax)"
        case .unexpectedFrame(let problem, let channel):
            return "\(problem.detail) on channel \(channel)"
        case .methodUnknown(let method):
            return "unknown method \(method)"
        case .messageTooLarge(let bodySize, let messageSizeMax, _):
            return "message size \(bodySize) is larger than configured max size \(messageSizeMax)"
        }
    }
}

extension AMQPError.SyntaxError {
    var detail: String {
        switch self {
        case .truncated: "payload ends in the middle of a field"
        case .trailingBytes(let count): "\(count) bytes after the last field"
        case .shortStringTooLong(let byteCount): "short string of \(byteCount) bytes (at most 255)"
        case .shortStringNotUTF8: "short string is not valid UTF-8"
        case .fieldTypeUnknown(let type): "unknown field type \(type)"
        case .nestingTooDeep: "field tables nested deeper than \(FieldTable.nestingDepthMax)"
        case .propertyFlagsUnknown(let flags): "unknown property flags \(flags)"
        }
    }
}

extension AMQPError.UnexpectedFrame {
    var detail: String {
        switch self {
        case .contentOnChannelZero:
            "content frame"
        case .contentHeaderWithoutMethod:
            "content header without a content-bearing method"
        case .contentBodyWithoutHeader:
            "content body without a content header"
        case .contentHeaderDuringBody:
            "content header while expecting content body"
        case .methodDuringContent(let method):
            "method \(method) while expecting content"
        case .contentHeaderClassMismatch(let expected, let received):
            "content header for class \(received), expected class \(expected)"
        case .contentHeaderWeightNonZero(let weight):
            "content header with weight \(weight), expected 0"
        }
    }
}

extension AMQPError: CustomStringConvertible {
    public var description: String {
        "\(self.replyCode.rawValue) \(self.replyText)"
    }
}
