import Synchronization

/// One thing that happened, as the harness saw it. The history is the checker's only input.
struct Event: Sendable {
    enum Kind: String, Sendable {
        /// A publisher sent a message (again, after a nack or an indeterminate confirm).
        case publish
        /// The publish could not be sent (the channel was gone): not stored.
        case unsent
        /// The broker acked the publish: it must be delivered.
        case confirm
        /// The broker nacked it: not stored, published again.
        case nack
        /// No confirm came (connection lost, or the timeout passed): maybe stored.
        case indeterminate
        /// A consumer (or the drain) received a message.
        case deliver
        case ack
        /// A consumer nacked a delivery with requeue.
        case requeue
        /// A consumer is about to reject a delivery without requeue: the queue dead-letters it.
        case reject
        /// A consumer dropped its connection with deliveries unacknowledged.
        case crash
        /// A fault window opened (`detail` names the fault).
        case fault
        /// A fault window was healed.
        case heal
        /// A client connected (`node`) or lost its connection (`detail`).
        case connect
        case disconnect
        /// A consumer keeps a delivery past its queue's consumer timeout, on purpose.
        case stall
        /// The broker cancelled the consumer (basic.cancel): on a stall, it took the delivery back.
        case cancel
        /// A stall's bound passed without a cancel while its connection stayed up.
        case uncancelled
        /// The broker closed a consumer's channel (`detail` says why) where it should have cancelled.
        case channelClosed
        /// The serving leader the harness sees changed (`node`; `detail` the term, or none).
        case leader
    }

    var millis: Int64
    var kind: Kind
    /// "p1", "c2", "drain", "nemesis".
    var actor: String
    var publisher = 0
    var sequence = -1
    /// Which publish of the message (1 for the first, counting republishes after a nack or an
    /// indeterminate confirm); on a delivery, the attempt its body carries.
    var attempt = 0
    var queue = -1
    var node = 0
    var redelivered = false
    /// On a confirm: the publisher's next new sequence number when the confirm arrived; every
    /// message with a sequence number at least this high was first published afterwards.
    var watermark = -1
    /// On a publish: the message's priority (the queues serve priorities strictly, so order
    /// holds only among messages of one priority).
    var priority = 0
    /// On a publish: the `x-delay` it carried (ms, through the delayed exchange); 0 for none.
    var delayMillis = 0
    /// On a publish: which channel of its publisher carried it (1 for the first; one per
    /// connection). A channel's messages are stored in the order it sent them.
    var channel = 0
    /// On a delivery from a stream: its `x-stream-offset` header.
    var offset = -1
    var window = 0
    var detail = ""

    var jsonLine: String {
        var fields = ["\"t\":\(millis)", "\"kind\":\"\(kind.rawValue)\"", "\"actor\":\"\(actor)\""]
        if sequence >= 0 { fields += ["\"publisher\":\(publisher)", "\"seq\":\(sequence)"] }
        if attempt > 0 { fields.append("\"attempt\":\(attempt)") }
        if queue >= 0 { fields.append("\"queue\":\(queue)") }
        if node > 0 { fields.append("\"node\":\(node)") }
        if kind == .deliver { fields.append("\"redelivered\":\(redelivered)") }
        if watermark >= 0 { fields.append("\"watermark\":\(watermark)") }
        if priority > 0 { fields.append("\"priority\":\(priority)") }
        if delayMillis > 0 { fields.append("\"delay\":\(delayMillis)") }
        if channel > 0 { fields.append("\"channel\":\(channel)") }
        if offset >= 0 { fields.append("\"offset\":\(offset)") }
        if window > 0 { fields.append("\"window\":\(window)") }
        if !detail.isEmpty { fields.append("\"detail\":\"\(jsonEscaped(detail))\"") }
        return "{" + fields.joined(separator: ",") + "}"
    }
}

/// Every event of a run, in the order recorded, with times from the run's start.
final class History: Sendable {
    let start: ContinuousClock.Instant
    private let events = Mutex<[Event]>([])

    init(start: ContinuousClock.Instant = ContinuousClock.now) {
        self.start = start
    }

    var elapsed: Duration { ContinuousClock.now - start }

    static func millis(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    func record(_ kind: Event.Kind, actor: String, _ fill: (inout Event) -> Void = { _ in }) {
        var event = Event(millis: Self.millis(elapsed), kind: kind, actor: actor)
        fill(&event)
        events.withLock { $0.append(event) }
    }

    var snapshot: [Event] { events.withLock { $0 } }
}

func jsonEscaped(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case _ where scalar.value < 0x20: out += " "
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// A message's unique id; its body also carries the queue it was published to and which
/// publish of it this copy is (`MessageID.body`).
struct MessageID: Hashable, Sendable, Comparable {
    var publisher: Int
    var sequence: Int

    static func < (lhs: MessageID, rhs: MessageID) -> Bool {
        (lhs.publisher, lhs.sequence) < (rhs.publisher, rhs.sequence)
    }

    /// The `x-deduplication-header` of every attempt of the message: "publisher/sequence".
    var deduplicationKey: String { "\(publisher)/\(sequence)" }

    /// "publisher/queue/sequence/attempt".
    func body(queue: Int, attempt: Int) -> String { "\(publisher)/\(queue)/\(sequence)/\(attempt)" }

    /// What a body made by `body(queue:attempt:)` carries; nil for anything else.
    static func parse(_ body: String) -> (id: MessageID, queue: Int, attempt: Int)? {
        let parts = body.split(separator: "/")
        guard parts.count == 4, let publisher = Int(parts[0]), let queue = Int(parts[1]), let sequence = Int(parts[2]),
              let attempt = Int(parts[3]), attempt > 0
        else { return nil }
        return (MessageID(publisher: publisher, sequence: sequence), queue, attempt)
    }
}

/// One publish of a message: two attempts of one message are two copies the broker may hold.
struct AttemptID: Hashable, Sendable {
    var id: MessageID
    var attempt: Int
}
