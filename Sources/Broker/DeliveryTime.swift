/// A message's own delivery time on a quorum queue: held back, and never delivered, until
/// then. The headers are the names AMQP 1.0 brokers give the message annotations for it:
/// `x-opt-delivery-time` (ms since the Unix epoch) or `x-opt-delivery-delay` (ms after it
/// is enqueued; the time wins when both are given). The leader's timestamp in the enqueue
/// command decides, so every replica holds it back alike; a time that has passed, a value
/// that is not a whole number, or a negative one holds nothing back. `x-delay` stays the
/// `x-delayed-message` exchange's, whose fired messages keep it.
enum DeliveryTime {
    static let timeHeader = "x-opt-delivery-time"
    static let delayHeader = "x-opt-delivery-delay"

    /// When a message enqueued at `timestamp` with these headers may first be delivered,
    /// if later than then.
    static func heldUntil(_ headers: ArgumentTable?, enqueuedAt timestamp: Int64) -> Int64? {
        guard let headers else { return nil }
        let readyAt: Int64
        if let time = headers[timeHeader]?.integerValue {
            readyAt = time
        } else if let delay = headers[delayHeader]?.integerValue, delay >= 0 {
            let (sum, overflow) = timestamp.addingReportingOverflow(delay)
            readyAt = overflow ? .max : sum
        } else {
            return nil
        }
        return readyAt > timestamp ? readyAt : nil
    }
}
