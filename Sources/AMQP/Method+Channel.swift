import NIOCore

// The methods of class channel (20), their fields and their wire form.
// Field order, types, bit packing and defaults follow RabbitMQ's amqp0-9-1 extended spec.

extension Method {
    /// Class `channel` (20): Work with channels.
    public enum Channel: Hashable, Sendable {
        /// `channel.open` (10): Opens a channel for use. C→S.
        case open(Open)
        /// `channel.open-ok` (11): Signals that the channel is ready. S→C.
        case openOk(OpenOk)
        /// `channel.flow` (20): Enables or disables the flow of content. Either peer.
        case flow(Flow)
        /// `channel.flow-ok` (21): Confirms a flow method. Either peer.
        case flowOk(FlowOk)
        /// `channel.close` (40): Requests a channel close. Either peer.
        case close(Close)
        /// `channel.close-ok` (41): Confirms a channel close. Either peer.
        case closeOk
    }
}

extension Method.Channel {
    /// The fields of `channel.open`.
    public struct Open: Hashable, Sendable {
        /// Reserved; clients send an empty string.
        public var outOfBand: String

        public init(outOfBand: String = "") {
            self.outOfBand = outOfBand
        }
    }
}

extension Method.Channel {
    /// The fields of `channel.open-ok`.
    public struct OpenOk: Hashable, Sendable {
        /// Reserved; servers send an empty string.
        public var channelID: [UInt8]

        public init(channelID: [UInt8] = []) {
            self.channelID = channelID
        }
    }
}

extension Method.Channel {
    /// The fields of `channel.flow`.
    public struct Flow: Hashable, Sendable {
        /// Start/stop content frames.
        public var active: Bool

        public init(active: Bool) {
            self.active = active
        }
    }
}

extension Method.Channel {
    /// The fields of `channel.flow-ok`.
    public struct FlowOk: Hashable, Sendable {
        /// Current flow setting.
        public var active: Bool

        public init(active: Bool) {
            self.active = active
        }
    }
}

extension Method.Channel {
    /// The fields of `channel.close`.
    public struct Close: Hashable, Sendable {
        /// Reply code from server.
        public var replyCode: ReplyCode
        /// Localised reply text.
        public var replyText: String
        /// Failing method class.
        public var classID: UInt16
        /// Failing method ID.
        public var methodID: UInt16

        public init(replyCode: ReplyCode, replyText: String = "", classID: UInt16, methodID: UInt16) {
            self.replyCode = replyCode
            self.replyText = replyText
            self.classID = classID
            self.methodID = methodID
        }
    }
}

extension Method.Channel {
    /// The class id of `channel` on the wire.
    public static let classID: UInt16 = 20

    /// The method id of this method within its class.
    var methodID: UInt16 {
        switch self {
        case .open: 10
        case .openOk: 11
        case .flow: 20
        case .flowOk: 21
        case .close: 40
        case .closeOk: 41
        }
    }

    /// The spec's name of this method, e.g. `"channel.open"`.
    var name: String {
        switch self {
        case .open: "channel.open"
        case .openOk: "channel.open-ok"
        case .flow: "channel.flow"
        case .flowOk: "channel.flow-ok"
        case .close: "channel.close"
        case .closeOk: "channel.close-ok"
        }
    }
}

extension Method.Channel {
    /// Decodes the fields of method `methodID`, consuming them from `buffer`.
    ///
    /// Returns nil for a method id this class does not have. Errors thrown here carry no
    /// method id; `Method.decode(from:)` attaches it.
    static func decode(methodID: UInt16, from buffer: inout ByteBuffer) throws(AMQPError) -> Self? {
        switch methodID {
        case 10:
            let outOfBand = try buffer.readShortString()
            return .open(Open(outOfBand: outOfBand))
        case 11:
            let channelID = try buffer.readLongString()
            return .openOk(OpenOk(channelID: channelID))
        case 20:
            let bits = try buffer.readOctet()
            let active = bits & 0x01 != 0
            return .flow(Flow(active: active))
        case 21:
            let bits = try buffer.readOctet()
            let active = bits & 0x01 != 0
            return .flowOk(FlowOk(active: active))
        case 40:
            let replyCode = try ReplyCode(rawValue: buffer.readShort())
            let replyText = try buffer.readShortString()
            let classID = try buffer.readShort()
            let methodID = try buffer.readShort()
            return .close(Close(replyCode: replyCode, replyText: replyText, classID: classID, methodID: methodID))
        case 41:
            return .closeOk
        default:
            return nil
        }
    }

    /// Writes the fields of this method (not its class and method ids) into `buffer`.
    func encodeFields(into buffer: inout ByteBuffer) throws(AMQPError) {
        switch self {
        case .open(let fields):
            try buffer.writeShortString(fields.outOfBand)
        case .openOk(let fields):
            buffer.writeLongString(fields.channelID)
        case .flow(let fields):
            buffer.writeInteger((fields.active ? 0x01 : 0) as UInt8)
        case .flowOk(let fields):
            buffer.writeInteger((fields.active ? 0x01 : 0) as UInt8)
        case .close(let fields):
            buffer.writeInteger(fields.replyCode.rawValue)
            try buffer.writeShortString(fields.replyText)
            buffer.writeInteger(fields.classID)
            buffer.writeInteger(fields.methodID)
        case .closeOk:
            break
        }
    }
}
