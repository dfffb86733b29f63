import AMQP
import Broker
import Client
import FoundationEssentials
import StatusAPI

/// A get through the management API (`POST /api/queues/VHOST/NAME/get`) as asked, checked,
/// and how it shows each message it took; pure.
struct MessageGet: Equatable, Sendable {
    /// What becomes of the messages taken, by RabbitMQ's ackmodes: `ack_requeue_true` and
    /// `reject_requeue_true` put them back (redelivered); `ack_requeue_false` acknowledges
    /// them; `reject_requeue_false` rejects them, so they are dead-lettered where the queue
    /// says so.
    enum Settlement: Equatable, Sendable {
        case requeue, ack, reject
    }

    enum Encoding: Equatable, Sendable {
        /// The body as text when it is valid UTF-8, else base64.
        case auto
        case base64
    }

    /// Bad input: the reason a 400 gives.
    struct Invalid: Error, Equatable {
        var reason: String
    }

    /// The most messages one get takes. RabbitMQ has no bound; each is a round trip to the
    /// leader, and the answer holds them all.
    static let countMax = 1_000
    /// A get takes no more messages once their bodies hold this many bytes.
    static let bodyBytesMax = 64 << 20

    var count: Int
    var settlement: Settlement
    var encoding: Encoding
    /// At most this many bytes of each body are shown; nil shows all.
    var truncate: Int?

    init(count: Int, settlement: Settlement, encoding: Encoding, truncate: Int? = nil) {
        self.count = count
        self.settlement = settlement
        self.encoding = encoding
        self.truncate = truncate
    }

    init(_ asked: QueueGetRequest) throws(Invalid) {
        guard (0...Self.countMax).contains(asked.count) else { throw Invalid(reason: "count is from 0 to \(Self.countMax)") }
        switch asked.ackmode {
        case "ack_requeue_true", "reject_requeue_true": settlement = .requeue
        case "ack_requeue_false": settlement = .ack
        case "reject_requeue_false": settlement = .reject
        default:
            throw Invalid(reason: "ackmode is ack_requeue_true, ack_requeue_false, reject_requeue_true or reject_requeue_false")
        }
        switch asked.encoding {
        case "auto": encoding = .auto
        case "base64": encoding = .base64
        // RabbitMQ's words.
        default: throw Invalid(reason: "Unsupported encoding. Please use auto or base64.")
        }
        if let truncate = asked.truncate, truncate < 0 { throw Invalid(reason: "truncate is a number of bytes, 0 or more") }
        count = asked.count
        truncate = asked.truncate
    }

    /// `message` as the answer shows it: its body cut to `truncate` bytes, then as text or
    /// base64 (a cut through a character makes it base64, as RabbitMQ's).
    func shown(_ message: GetResponse) -> GotMessage {
        let body = Array(message.body.readableBytesView)
        let kept = truncate.map { Array(body.prefix($0)) } ?? body
        let text = encoding == .auto ? String(validating: kept, as: UTF8.self) : nil
        return GotMessage(
            payload_bytes: body.count, redelivered: message.redelivered, exchange: message.exchange, routing_key: message.routingKey,
            message_count: Int(message.messageCount), properties: ManagementRoutes.json(Broker.BasicProperties(message.properties)),
            payload: text ?? Data(kept).base64EncodedString(), payload_encoding: text == nil ? "base64" : "string")
    }
}
