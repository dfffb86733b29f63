import NIOCore
import Raft

/// What nodes send each other over their peer connection. Every frame is
///
///     payload length u32 | version u8 | kind u8 | payload
///
/// (the length counts version, kind and payload; integers little-endian). Raft traffic names
/// its group, so that queues can later spread over many groups on the same connections.
public enum PeerFrame: Equatable, Sendable {
    /// The first frame each side sends: who it is, what the connection is for, and a fresh
    /// nonce for the other to sign.
    case hello(node: NodeID, nonce: [UInt8], purpose: LinkPurpose = .raft)
    /// Proof of the cluster secret: the HMAC the shell computes over the other side's nonce
    /// (and over the prover's purpose, so that it cannot be swapped in transit).
    case proof(mac: [UInt8])
    /// Raft messages of one group, batched per flush.
    case raft(group: UInt64, messages: [Message])
    /// The accepting side of a client session took the proof: from the next byte on, the
    /// connection carries AMQP 0-9-1 and no more peer frames.
    case sessionReady
    /// The sending node leaves the cluster and asks the group's leader to remove it. Only
    /// this, on the node's own authenticated link, removes a voter that is alive: what
    /// gossip says of a member never does.
    case leave(group: UInt64)
    /// A change the sending node asks of the group's leader for a user it authenticated (an
    /// HTTP API request it took): an encoded broker command, answered by an `outcome` with
    /// the same request number. It goes over the authenticated link, so that neither the
    /// user's credentials nor what the change carries cross the network in clear.
    case proposal(group: UInt64, request: UInt64, command: [UInt8])
    /// What the leader made of a `proposal`.
    case outcome(request: UInt64, ProposalOutcome)
    /// What only the leader knows, asked for by a member whose HTTP API serves it: each
    /// queue's ready and unacknowledged messages and its consumers (the dispatcher's), and
    /// the connections and channels of the cluster (the leader serves them all).
    case countsQuery(group: UInt64, request: UInt64)
    /// The leader's answer to a `countsQuery`: nil if it does not lead the group.
    case counts(request: UInt64, LeaderCounts?)
    /// The cluster's client connections with their channels and consumers, which only the
    /// leader serves, asked for by a member whose HTTP API lists them.
    case connectionsQuery(group: UInt64, request: UInt64)
    /// The leader's answer: the management API's JSON of them (`ClientConnections`); nil if
    /// it does not lead the group.
    case connections(request: UInt64, json: [UInt8]?)
    /// An operator closes a client connection (by its management API name) on the node the
    /// client is connected to; `reason` is the close's text.
    case closeConnection(request: UInt64, name: String, reason: String)
    /// Whether that node had the connection and closed it.
    case connectionClosed(request: UInt64, found: Bool)

    /// 2: the handshake's proofs bind both hellos, the acceptor's going first. 3: a frame
    /// longer than `PeerFramePieces.pieceBytes` crosses in pieces.
    public static let version: UInt8 = 3
    /// The frames a side receives before the other has proved itself (hello, proof), and
    /// the most bytes each may take after its length prefix: a hello with the longest user
    /// name is about 300.
    public static let handshakeFrames = 2
    public static let handshakeFrameBytesMax = 512
    public static let lengthPrefixBytes = 4
    public static let nonceBytes = 32
    public static let macBytes = 32
    /// An AMQP user name is a short string.
    public static let userBytesMax = 255
    /// A refusal's text is one sentence.
    public static let refusalTextBytesMax = 4_096
    /// A connection's name: two addresses with their ports.
    public static let connectionNameBytesMax = 512
    /// An operator's reason for closing a connection goes into connection.close's reply
    /// text, a short string, after `CONNECTION_FORCED - `.
    public static let closeReasonBytesMax = 200
    /// The queues one `counts` answer may list (a vhost and a name each at most 255 bytes).
    public static let queueCountsMax = 1 << 20

    enum Kind: UInt8 {
        case hello = 1
        case proof = 2
        case raft = 3
        case sessionReady = 4
        case leave = 5
        case proposal = 6
        case outcome = 7
        case countsQuery = 8
        case counts = 9
        case connectionsQuery = 10
        case connections = 11
        case closeConnection = 12
        case connectionClosed = 13
    }

    // MARK: Encoding

    /// The frame as bytes (tests and tools; the transport sends `encodedBuffer()`).
    public func encoded() -> [UInt8] { Array(encodedBuffer().readableBytesView) }

    /// The frame in the buffer the socket is given.
    public func encodedBuffer() -> ByteBuffer {
        var writer = WireWriter(capacity: 64)
        writer.u32(0)
        writer.u8(Self.version)
        switch self {
        case .hello(let node, let nonce, let purpose):
            writer.u8(Kind.hello.rawValue)
            writer.u64(node)
            writer.blob(nonce)
            writer.raw(purpose.encoded())
        case .proof(let mac):
            writer.u8(Kind.proof.rawValue)
            writer.blob(mac)
        case .raft(let group, let messages):
            writer.u8(Kind.raft.rawValue)
            writer.u64(group)
            writer.u32(UInt32(messages.count))
            for message in messages { RaftMessageCoding.encode(message, into: &writer) }
        case .sessionReady:
            writer.u8(Kind.sessionReady.rawValue)
        case .leave(let group):
            writer.u8(Kind.leave.rawValue)
            writer.u64(group)
        case .proposal(let group, let request, let command):
            writer.u8(Kind.proposal.rawValue)
            writer.u64(group)
            writer.u64(request)
            writer.blob(command)
        case .outcome(let request, let outcome):
            writer.u8(Kind.outcome.rawValue)
            writer.u64(request)
            outcome.encode(into: &writer)
        case .countsQuery(let group, let request):
            writer.u8(Kind.countsQuery.rawValue)
            writer.u64(group)
            writer.u64(request)
        case .counts(let request, let counts):
            writer.u8(Kind.counts.rawValue)
            writer.u64(request)
            writer.bool(counts != nil)
            counts?.encode(into: &writer)
        case .connectionsQuery(let group, let request):
            writer.u8(Kind.connectionsQuery.rawValue)
            writer.u64(group)
            writer.u64(request)
        case .connections(let request, let json):
            writer.u8(Kind.connections.rawValue)
            writer.u64(request)
            writer.bool(json != nil)
            if let json { writer.blob(json) }
        case .closeConnection(let request, let name, let reason):
            writer.u8(Kind.closeConnection.rawValue)
            writer.u64(request)
            writer.blob(Array(name.utf8))
            writer.blob(Array(reason.utf8.prefix(Self.closeReasonBytesMax)))
        case .connectionClosed(let request, let found):
            writer.u8(Kind.connectionClosed.rawValue)
            writer.u64(request)
            writer.bool(found)
        }
        writer.setU32(UInt32(writer.count - Self.lengthPrefixBytes), at: 0)
        return writer.buffer
    }

    /// The bytes a Raft frame takes besides its messages: length prefix, version, kind,
    /// group and message count.
    static let raftFrameOverheadBytes = lengthPrefixBytes + 1 + 1 + 8 + 4

    /// Raft messages of one group as encoded frames, in order, each within what the
    /// receiver accepts: at most `limits.frameBytesMax` bytes after the length prefix and
    /// `limits.messagesPerFrameMax` messages. A message too large for any frame is left out
    /// and counted in `oversized` (Raft sends again what is lost; the shell keeps its
    /// appends and snapshot chunks well within a frame).
    public static func encodeRaft(group: UInt64, messages: [Message], limits: PeerWireLimits) -> (frames: [ByteBuffer], oversized: Int) {
        var frames: [ByteBuffer] = []
        var oversized = 0
        var frame = WireWriter()
        var count = 0
        func begin(capacity: Int) {
            frame = WireWriter(capacity: raftFrameOverheadBytes + capacity)
            frame.u32(0)
            frame.u8(version)
            frame.u8(Kind.raft.rawValue)
            frame.u64(group)
            frame.u32(0)
        }
        func finish() {
            guard count > 0 else { return }
            frame.setU32(UInt32(frame.count - lengthPrefixBytes), at: 0)
            frame.setU32(UInt32(count), at: raftFrameOverheadBytes - 4)
            frames.append(frame.buffer)
            frame = WireWriter()
            count = 0
        }
        // Each message is encoded straight into its frame, once (bodies are large): one
        // that overflows the frame is taken out again and starts the next.
        for message in messages {
            let estimate = RaftMessageCoding.encodedBytesEstimate(message)
            if count == 0 { begin(capacity: estimate) } else { frame.reserve(additional: estimate) }
            let start = frame.count
            RaftMessageCoding.encode(message, into: &frame)
            let size = frame.count - start
            guard raftFrameOverheadBytes - lengthPrefixBytes + size <= limits.frameBytesMax else {
                frame.truncate(to: start)
                oversized += 1
                continue
            }
            if count > 0, count == limits.messagesPerFrameMax || frame.count - lengthPrefixBytes > limits.frameBytesMax {
                frame.truncate(to: start)
                finish()
                begin(capacity: size)
                RaftMessageCoding.encode(message, into: &frame)
            }
            count += 1
        }
        finish()
        return (frames, oversized)
    }

    // MARK: Decoding

    /// The payload length announced by a frame's first four bytes, refused at once when over
    /// the limit, before any of the payload is buffered.
    public static func payloadLength(prefix: [UInt8], limits: PeerWireLimits) throws(PeerWireError) -> Int {
        guard prefix.count >= lengthPrefixBytes else { throw .truncated }
        return try payloadLength(announced: prefix[..<lengthPrefixBytes].reversed().reduce(0) { $0 << 8 | UInt32($1) }, limits: limits)
    }

    /// The same, from the prefix read as a little-endian integer where it was received.
    public static func payloadLength(announced: UInt32, limits: PeerWireLimits) throws(PeerWireError) -> Int {
        let length = Int(announced)
        guard length >= 2 else { throw .invalid("frame of \(length) bytes has no version and kind") }
        guard length <= limits.frameBytesMax else { throw .tooLarge(length, max: limits.frameBytesMax) }
        return length
    }

    /// Decodes one frame's payload (the bytes after the length prefix).
    public init(payload: [UInt8], limits: PeerWireLimits) throws(PeerWireError) {
        try self.init(payload: ByteBuffer(bytes: payload), limits: limits)
    }

    /// Decodes one frame's payload where it was received.
    public init(payload: ByteBuffer, limits: PeerWireLimits) throws(PeerWireError) {
        var reader = WireReader(payload)
        let version = try reader.u8()
        guard version == Self.version else { throw .unknownVersion(version) }
        let kindByte = try reader.u8()
        guard let kind = Kind(rawValue: kindByte) else { throw .unknownKind(kindByte) }
        switch kind {
        case .hello:
            let node = try reader.u64()
            let nonce = try reader.blob(max: Self.nonceBytes)
            guard nonce.count == Self.nonceBytes else { throw .invalid("nonce of \(nonce.count) bytes") }
            self = .hello(node: node, nonce: nonce, purpose: try LinkPurpose(reading: &reader))
        case .proof:
            let mac = try reader.blob(max: Self.macBytes)
            guard mac.count == Self.macBytes else { throw .invalid("proof of \(mac.count) bytes") }
            self = .proof(mac: mac)
        case .raft:
            let group = try reader.u64()
            let count = try reader.count(max: limits.messagesPerFrameMax, itemBytesMin: RaftMessageCoding.messageBytesMin)
            var messages: [Message] = []
            messages.reserveCapacity(count)
            for _ in 0..<count { messages.append(try RaftMessageCoding.decode(&reader, limits: limits)) }
            self = .raft(group: group, messages: messages)
        case .sessionReady:
            self = .sessionReady
        case .leave:
            self = .leave(group: try reader.u64())
        case .proposal:
            let group = try reader.u64()
            let request = try reader.u64()
            self = .proposal(group: group, request: request, command: try reader.blob(max: limits.entryBytesMax))
        case .outcome:
            let request = try reader.u64()
            self = .outcome(request: request, try ProposalOutcome(reading: &reader))
        case .countsQuery:
            let group = try reader.u64()
            self = .countsQuery(group: group, request: try reader.u64())
        case .counts:
            let request = try reader.u64()
            self = .counts(request: request, try reader.bool() ? try LeaderCounts(reading: &reader) : nil)
        case .connectionsQuery:
            let group = try reader.u64()
            self = .connectionsQuery(group: group, request: try reader.u64())
        case .connections:
            let request = try reader.u64()
            self = .connections(request: request, json: try reader.bool() ? try reader.blob(max: limits.frameBytesMax) : nil)
        case .closeConnection:
            let request = try reader.u64()
            guard let name = String(validating: try reader.blob(max: Self.connectionNameBytesMax), as: UTF8.self) else {
                throw .invalid("a connection's name that is not UTF-8")
            }
            self = .closeConnection(request: request, name: name, reason: String(decoding: try reader.blob(max: Self.closeReasonBytesMax), as: UTF8.self))
        case .connectionClosed:
            let request = try reader.u64()
            self = .connectionClosed(request: request, found: try reader.bool())
        }
        try reader.expectEnd()
    }

    /// Decodes a whole frame, length prefix included (for tests and small tools).
    public init(frame: [UInt8], limits: PeerWireLimits) throws(PeerWireError) {
        guard frame.count >= Self.lengthPrefixBytes else { throw .truncated }
        let length = try Self.payloadLength(prefix: Array(frame.prefix(Self.lengthPrefixBytes)), limits: limits)
        guard frame.count == Self.lengthPrefixBytes + length else {
            throw frame.count < Self.lengthPrefixBytes + length ? .truncated : .invalid("\(frame.count - Self.lengthPrefixBytes - length) bytes after the frame")
        }
        try self.init(payload: Array(frame[Self.lengthPrefixBytes...]), limits: limits)
    }
}

/// What the leader made of a change a member asked of it (`PeerFrame.proposal`).
public enum ProposalOutcome: Equatable, Sendable {
    /// Applied, and it succeeded; the leader had applied its log through `index` (the asker
    /// answers once its own replica has too, so a read through it sees the change).
    case applied(index: UInt64)
    /// Refused, before or when it was applied: the broker's reply code and text.
    case refused(code: UInt16, text: String)
    /// The receiver does not lead the group: the asker finds the leader again.
    case notLeading

    enum Kind: UInt8 {
        case applied = 0
        case refused = 1
        case notLeading = 2
    }

    func encode(into writer: inout WireWriter) {
        switch self {
        case .applied(let index):
            writer.u8(Kind.applied.rawValue)
            writer.u64(index)
        case .refused(let code, let text):
            writer.u8(Kind.refused.rawValue)
            writer.u16(code)
            writer.blob(Array(text.utf8.prefix(PeerFrame.refusalTextBytesMax)))
        case .notLeading:
            writer.u8(Kind.notLeading.rawValue)
        }
    }

    init(reading reader: inout WireReader) throws(PeerWireError) {
        let kindByte = try reader.u8()
        switch Kind(rawValue: kindByte) {
        case .applied: self = .applied(index: try reader.u64())
        case .refused:
            let code = try reader.u16()
            self = .refused(code: code, text: String(decoding: try reader.blob(max: PeerFrame.refusalTextBytesMax), as: UTF8.self))
        case .notLeading: self = .notLeading
        case nil: throw .invalid("proposal outcome \(kindByte)")
        }
    }
}

/// What the leader counts: the cluster's connections and channels, every queue's counts,
/// and the messages it took and handed out.
public struct LeaderCounts: Equatable, Sendable {
    public var connections: UInt32
    public var channels: UInt32
    public var queues: [QueueCount]
    public var messages: MessageStats

    public init(connections: UInt32, channels: UInt32, queues: [QueueCount], messages: MessageStats = MessageStats()) {
        self.connections = connections
        self.channels = channels
        self.queues = queues
        self.messages = messages
    }

    func encode(into writer: inout WireWriter) {
        writer.u32(connections)
        writer.u32(channels)
        writer.u32(UInt32(queues.count))
        for queue in queues { queue.encode(into: &writer) }
        messages.encode(into: &writer)
    }

    init(reading reader: inout WireReader) throws(PeerWireError) {
        connections = try reader.u32()
        channels = try reader.u32()
        let count = try reader.count(max: PeerFrame.queueCountsMax, itemBytesMin: QueueCount.encodedBytesMin)
        queues = []
        queues.reserveCapacity(count)
        for _ in 0..<count { queues.append(try QueueCount(reading: &reader)) }
        messages = try MessageStats(reading: &reader)
    }
}

/// The leader's message totals since its process began, with their rates
/// per second (RabbitMQ's `message_stats`: publish, confirm, deliver_get, ack, redeliver).
public struct MessageStats: Equatable, Sendable {
    public struct Count: Equatable, Sendable {
        public var total: UInt64
        public var ratePerSecond: Double

        public init(total: UInt64 = 0, ratePerSecond: Double = 0) {
            self.total = total
            self.ratePerSecond = ratePerSecond
        }
    }

    public var publish = Count()
    public var confirm = Count()
    public var deliverGet = Count()
    public var ack = Count()
    public var redeliver = Count()

    public init() {}

    private static let fields: [WritableKeyPath<MessageStats, Count> & Sendable] = [\.publish, \.confirm, \.deliverGet, \.ack, \.redeliver]
    static let encodedBytes = fields.count * 16

    func encode(into writer: inout WireWriter) {
        for field in Self.fields {
            writer.u64(self[keyPath: field].total)
            writer.u64(self[keyPath: field].ratePerSecond.bitPattern)
        }
    }

    init(reading reader: inout WireReader) throws(PeerWireError) {
        for field in Self.fields {
            let total = try reader.u64()
            let rate = Double(bitPattern: try reader.u64())
            guard rate.isFinite, rate >= 0 else { throw .invalid("a message rate that is not a finite, non-negative number") }
            self[keyPath: field] = Count(total: total, ratePerSecond: rate)
        }
    }
}

/// One queue's counts as the leader's dispatcher has them.
public struct QueueCount: Equatable, Sendable {
    public var vhost: String
    public var name: String
    public var ready: UInt64
    public var unacknowledged: UInt64
    public var consumers: UInt32
    /// Its messages published, delivered (or got), acknowledged and redelivered on the
    /// leader, with their rates (`confirm` is a channel's, not a queue's: 0 here).
    public var messages: MessageStats

    public init(vhost: String, name: String, ready: UInt64, unacknowledged: UInt64, consumers: UInt32, messages: MessageStats = MessageStats()) {
        self.vhost = vhost
        self.name = name
        self.ready = ready
        self.unacknowledged = unacknowledged
        self.consumers = consumers
        self.messages = messages
    }

    /// AMQP's short strings: a vhost's or a queue's name is at most 255 bytes.
    static let nameBytesMax = 255
    static let encodedBytesMin = 4 + 4 + 8 + 8 + 4 + MessageStats.encodedBytes

    func encode(into writer: inout WireWriter) {
        writer.blob(Array(vhost.utf8))
        writer.blob(Array(name.utf8))
        writer.u64(ready)
        writer.u64(unacknowledged)
        writer.u32(consumers)
        messages.encode(into: &writer)
    }

    init(reading reader: inout WireReader) throws(PeerWireError) {
        guard let vhost = String(validating: try reader.blob(max: Self.nameBytesMax), as: UTF8.self),
            let name = String(validating: try reader.blob(max: Self.nameBytesMax), as: UTF8.self)
        else { throw .invalid("a queue's name that is not UTF-8") }
        self.init(vhost: vhost, name: name, ready: try reader.u64(), unacknowledged: try reader.u64(), consumers: try reader.u32(),
                  messages: try MessageStats(reading: &reader))
    }
}

/// What a peer connection is for. Announced in the hello and bound into the proof.
public enum LinkPurpose: Hashable, Sendable {
    /// Raft traffic between two members: one such connection per pair of nodes.
    case raft
    /// One client connection that a node forwards to the leader: after the handshake the
    /// connection carries AMQP 0-9-1 as the client sent it, on behalf of `user`, whom the
    /// forwarding node has authenticated.
    case clientSession(user: String)

    enum Kind: UInt8 {
        case raft = 0
        case clientSession = 1
    }

    /// Its wire form, also the bytes the proof's HMAC covers.
    public func encoded() -> [UInt8] {
        var writer = WireWriter(capacity: 8)
        switch self {
        case .raft:
            writer.u8(Kind.raft.rawValue)
        case .clientSession(let user):
            writer.u8(Kind.clientSession.rawValue)
            writer.blob(Array(user.utf8))
        }
        return writer.bytes
    }

    init(reading reader: inout WireReader) throws(PeerWireError) {
        let kindByte = try reader.u8()
        switch Kind(rawValue: kindByte) {
        case .raft: self = .raft
        case .clientSession:
            let user = try reader.blob(max: PeerFrame.userBytesMax)
            guard let name = String(validating: user, as: UTF8.self) else { throw .invalid("a user name that is not UTF-8") }
            self = .clientSession(user: name)
        case nil: throw .invalid("link purpose \(kindByte)")
        }
    }
}

/// Every bound on what a peer may send, checked while decoding.
public struct PeerWireLimits: Equatable, Sendable {
    public var frameBytesMax = 64 << 20
    public var messagesPerFrameMax = 4_096
    public var entriesPerMessageMax = 65_536
    public var entryBytesMax = 32 << 20
    public var snapshotChunkBytesMax = 16 << 20
    public var membershipBytesMax = 1 << 20

    public init() {}
}
