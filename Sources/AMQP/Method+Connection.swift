import NIOCore

// The methods of class connection (10), their fields and their wire form.
// Field order, types, bit packing and defaults follow RabbitMQ's amqp0-9-1 extended spec.

extension Method {
    /// Class `connection` (10): Work with socket connections.
    public enum Connection: Hashable, Sendable {
        /// `connection.start` (10): Starts connection negotiation. S→C.
        case start(Start)
        /// `connection.start-ok` (11): Selects a security mechanism and locale, answering `start`. C→S.
        case startOk(StartOk)
        /// `connection.secure` (20): Security mechanism challenge. S→C.
        case secure(Secure)
        /// `connection.secure-ok` (21): Security mechanism response. C→S.
        case secureOk(SecureOk)
        /// `connection.tune` (30): Proposes connection tuning parameters. S→C.
        case tune(Tune)
        /// `connection.tune-ok` (31): Negotiates connection tuning parameters. C→S.
        case tuneOk(TuneOk)
        /// `connection.open` (40): Opens a connection to a virtual host. C→S.
        case open(Open)
        /// `connection.open-ok` (41): Signals that the connection is ready. S→C.
        case openOk(OpenOk)
        /// `connection.close` (50): Requests a connection close. Either peer.
        case close(Close)
        /// `connection.close-ok` (51): Confirms a connection close. Either peer.
        case closeOk
        /// `connection.blocked` (60): The server is blocking publishers, e.g. on a resource alarm (RabbitMQ extension). S→C.
        case blocked(Blocked)
        /// `connection.unblocked` (61): The server no longer blocks publishers (RabbitMQ extension). S→C.
        case unblocked
        /// `connection.update-secret` (70): Replaces the secret (e.g. an expiring token) of an open connection (RabbitMQ extension). C→S.
        case updateSecret(UpdateSecret)
        /// `connection.update-secret-ok` (71): Confirms `update-secret` (RabbitMQ extension). S→C.
        case updateSecretOk
    }
}

extension Method.Connection {
    /// The fields of `connection.start`.
    public struct Start: Hashable, Sendable {
        /// Protocol major version.
        public var versionMajor: UInt8
        /// Protocol minor version.
        public var versionMinor: UInt8
        /// Server properties.
        public var serverProperties: FieldTable
        /// Available security mechanisms.
        public var mechanisms: [UInt8]
        /// Available message locales.
        public var locales: [UInt8]

        public init(
            versionMajor: UInt8 = 0,
            versionMinor: UInt8 = 9,
            serverProperties: FieldTable,
            mechanisms: [UInt8] = Array("PLAIN".utf8),
            locales: [UInt8] = Array("en_US".utf8)
        ) {
            self.versionMajor = versionMajor
            self.versionMinor = versionMinor
            self.serverProperties = serverProperties
            self.mechanisms = mechanisms
            self.locales = locales
        }
    }
}

extension Method.Connection {
    /// The fields of `connection.start-ok`.
    public struct StartOk: Hashable, Sendable {
        /// Client properties.
        public var clientProperties: FieldTable
        /// Selected security mechanism.
        public var mechanism: String
        /// Security response data.
        public var response: [UInt8]
        /// Selected message locale.
        public var locale: String

        public init(
            clientProperties: FieldTable,
            mechanism: String = "PLAIN",
            response: [UInt8],
            locale: String = "en_US"
        ) {
            self.clientProperties = clientProperties
            self.mechanism = mechanism
            self.response = response
            self.locale = locale
        }
    }
}

extension Method.Connection {
    /// The fields of `connection.secure`.
    public struct Secure: Hashable, Sendable {
        /// Security challenge data.
        public var challenge: [UInt8]

        public init(challenge: [UInt8]) {
            self.challenge = challenge
        }
    }
}

extension Method.Connection {
    /// The fields of `connection.secure-ok`.
    public struct SecureOk: Hashable, Sendable {
        /// Security response data.
        public var response: [UInt8]

        public init(response: [UInt8]) {
            self.response = response
        }
    }
}

extension Method.Connection {
    /// The fields of `connection.tune`.
    public struct Tune: Hashable, Sendable {
        /// Proposed maximum channels.
        public var channelMax: UInt16
        /// Proposed maximum frame size.
        public var frameMax: UInt32
        /// Desired heartbeat delay.
        public var heartbeat: UInt16

        public init(channelMax: UInt16 = 0, frameMax: UInt32 = 0, heartbeat: UInt16 = 0) {
            self.channelMax = channelMax
            self.frameMax = frameMax
            self.heartbeat = heartbeat
        }
    }
}

extension Method.Connection {
    /// The fields of `connection.tune-ok`.
    public struct TuneOk: Hashable, Sendable {
        /// Negotiated maximum channels.
        public var channelMax: UInt16
        /// Negotiated maximum frame size.
        public var frameMax: UInt32
        /// Desired heartbeat delay.
        public var heartbeat: UInt16

        public init(channelMax: UInt16 = 0, frameMax: UInt32 = 0, heartbeat: UInt16 = 0) {
            self.channelMax = channelMax
            self.frameMax = frameMax
            self.heartbeat = heartbeat
        }
    }
}

extension Method.Connection {
    /// The fields of `connection.open`.
    public struct Open: Hashable, Sendable {
        /// Virtual host name.
        public var virtualHost: String
        /// Reserved; clients send an empty string.
        public var capabilities: String
        /// Reserved; clients send false.
        public var insist: Bool

        public init(virtualHost: String = "/", capabilities: String = "", insist: Bool = false) {
            self.virtualHost = virtualHost
            self.capabilities = capabilities
            self.insist = insist
        }
    }
}

extension Method.Connection {
    /// The fields of `connection.open-ok`.
    public struct OpenOk: Hashable, Sendable {
        /// Reserved; servers send an empty string.
        public var knownHosts: String

        public init(knownHosts: String = "") {
            self.knownHosts = knownHosts
        }
    }
}

extension Method.Connection {
    /// The fields of `connection.close`.
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

extension Method.Connection {
    /// The fields of `connection.blocked`.
    public struct Blocked: Hashable, Sendable {
        /// Human-readable reason.
        public var reason: String

        public init(reason: String = "") {
            self.reason = reason
        }
    }
}

extension Method.Connection {
    /// The fields of `connection.update-secret`.
    public struct UpdateSecret: Hashable, Sendable {
        /// The new secret, e.g. a refreshed OAuth 2 token.
        public var newSecret: [UInt8]
        /// Human-readable reason.
        public var reason: String

        public init(newSecret: [UInt8], reason: String) {
            self.newSecret = newSecret
            self.reason = reason
        }
    }
}

extension Method.Connection {
    /// The class id of `connection` on the wire.
    public static let classID: UInt16 = 10

    /// The method id of this method within its class.
    var methodID: UInt16 {
        switch self {
        case .start: 10
        case .startOk: 11
        case .secure: 20
        case .secureOk: 21
        case .tune: 30
        case .tuneOk: 31
        case .open: 40
        case .openOk: 41
        case .close: 50
        case .closeOk: 51
        case .blocked: 60
        case .unblocked: 61
        case .updateSecret: 70
        case .updateSecretOk: 71
        }
    }

    /// The spec's name of this method, e.g. `"connection.start"`.
    var name: String {
        switch self {
        case .start: "connection.start"
        case .startOk: "connection.start-ok"
        case .secure: "connection.secure"
        case .secureOk: "connection.secure-ok"
        case .tune: "connection.tune"
        case .tuneOk: "connection.tune-ok"
        case .open: "connection.open"
        case .openOk: "connection.open-ok"
        case .close: "connection.close"
        case .closeOk: "connection.close-ok"
        case .blocked: "connection.blocked"
        case .unblocked: "connection.unblocked"
        case .updateSecret: "connection.update-secret"
        case .updateSecretOk: "connection.update-secret-ok"
        }
    }
}

extension Method.Connection {
    /// Decodes the fields of method `methodID`, consuming them from `buffer`.
    ///
    /// Returns nil for a method id this class does not have. Errors thrown here carry no
    /// method id; `Method.decode(from:)` attaches it.
    static func decode(methodID: UInt16, from buffer: inout ByteBuffer) throws(AMQPError) -> Self? {
        switch methodID {
        case 10:
            let versionMajor = try buffer.readOctet()
            let versionMinor = try buffer.readOctet()
            let serverProperties = try buffer.readFieldTable()
            let mechanisms = try buffer.readLongString()
            let locales = try buffer.readLongString()
            return .start(
                Start(
                    versionMajor: versionMajor,
                    versionMinor: versionMinor,
                    serverProperties: serverProperties,
                    mechanisms: mechanisms,
                    locales: locales
                )
            )
        case 11:
            let clientProperties = try buffer.readFieldTable()
            let mechanism = try buffer.readShortString()
            let response = try buffer.readLongString()
            let locale = try buffer.readShortString()
            return .startOk(
                StartOk(
                    clientProperties: clientProperties,
                    mechanism: mechanism,
                    response: response,
                    locale: locale
                )
            )
        case 20:
            let challenge = try buffer.readLongString()
            return .secure(Secure(challenge: challenge))
        case 21:
            let response = try buffer.readLongString()
            return .secureOk(SecureOk(response: response))
        case 30:
            let channelMax = try buffer.readShort()
            let frameMax = try buffer.readLong()
            let heartbeat = try buffer.readShort()
            return .tune(Tune(channelMax: channelMax, frameMax: frameMax, heartbeat: heartbeat))
        case 31:
            let channelMax = try buffer.readShort()
            let frameMax = try buffer.readLong()
            let heartbeat = try buffer.readShort()
            return .tuneOk(TuneOk(channelMax: channelMax, frameMax: frameMax, heartbeat: heartbeat))
        case 40:
            let virtualHost = try buffer.readShortString()
            let capabilities = try buffer.readShortString()
            let bits = try buffer.readOctet()
            let insist = bits & 0x01 != 0
            return .open(Open(virtualHost: virtualHost, capabilities: capabilities, insist: insist))
        case 41:
            let knownHosts = try buffer.readShortString()
            return .openOk(OpenOk(knownHosts: knownHosts))
        case 50:
            let replyCode = try ReplyCode(rawValue: buffer.readShort())
            let replyText = try buffer.readShortString()
            let classID = try buffer.readShort()
            let methodID = try buffer.readShort()
            return .close(Close(replyCode: replyCode, replyText: replyText, classID: classID, methodID: methodID))
        case 51:
            return .closeOk
        case 60:
            let reason = try buffer.readShortString()
            return .blocked(Blocked(reason: reason))
        case 61:
            return .unblocked
        case 70:
            let newSecret = try buffer.readLongString()
            let reason = try buffer.readShortString()
            return .updateSecret(UpdateSecret(newSecret: newSecret, reason: reason))
        case 71:
            return .updateSecretOk
        default:
            return nil
        }
    }

    /// Writes the fields of this method (not its class and method ids) into `buffer`.
    func encodeFields(into buffer: inout ByteBuffer) throws(AMQPError) {
        switch self {
        case .start(let fields):
            buffer.writeInteger(fields.versionMajor)
            buffer.writeInteger(fields.versionMinor)
            try buffer.writeFieldTable(fields.serverProperties)
            buffer.writeLongString(fields.mechanisms)
            buffer.writeLongString(fields.locales)
        case .startOk(let fields):
            try buffer.writeFieldTable(fields.clientProperties)
            try buffer.writeShortString(fields.mechanism)
            buffer.writeLongString(fields.response)
            try buffer.writeShortString(fields.locale)
        case .secure(let fields):
            buffer.writeLongString(fields.challenge)
        case .secureOk(let fields):
            buffer.writeLongString(fields.response)
        case .tune(let fields):
            buffer.writeInteger(fields.channelMax)
            buffer.writeInteger(fields.frameMax)
            buffer.writeInteger(fields.heartbeat)
        case .tuneOk(let fields):
            buffer.writeInteger(fields.channelMax)
            buffer.writeInteger(fields.frameMax)
            buffer.writeInteger(fields.heartbeat)
        case .open(let fields):
            try buffer.writeShortString(fields.virtualHost)
            try buffer.writeShortString(fields.capabilities)
            buffer.writeInteger((fields.insist ? 0x01 : 0) as UInt8)
        case .openOk(let fields):
            try buffer.writeShortString(fields.knownHosts)
        case .close(let fields):
            buffer.writeInteger(fields.replyCode.rawValue)
            try buffer.writeShortString(fields.replyText)
            buffer.writeInteger(fields.classID)
            buffer.writeInteger(fields.methodID)
        case .blocked(let fields):
            try buffer.writeShortString(fields.reason)
        case .updateSecret(let fields):
            buffer.writeLongString(fields.newSecret)
            try buffer.writeShortString(fields.reason)
        case .closeOk, .unblocked, .updateSecretOk:
            break
        }
    }
}
