import AMQP
import DequeModule

/// The client's prefetch, enforced by the relay rather than by the leader alone.
///
/// A relayed consumer's prefetch room comes back only when its ack has crossed the relay to
/// the leader and the leader's next delivery has crossed back: two hops more than for a
/// consumer on the leader, and at full rate its prefetch ran out while acks and deliveries
/// were on their way (a consumer with prefetch 256 took 85–95 % of what was published). So
/// the leader is asked for deliveries ahead (`RelayCore.leaderConsume`), the relay holds what
/// comes beyond the client's prefetch, and a client's ack releases the next one at once.
///
/// Deliveries reach the client in the leader's order, so the client's tags ascend and an ack
/// with `multiple` never covers a delivery the client has not seen. For that, one consumer
/// out of room holds back the channel's later deliveries to others only while they have no
/// room either: never does one consumer wait for another's (it gets its delivery, and the
/// one ahead of it goes too, past its prefetch by at most what the leader gave beyond it).
extension RelayedChannel {
    struct HeldDelivery {
        var consumerTag: String
        var deliveryTag: UInt64
        var frames: [Frame]
    }

    struct DeliveryOut {
        var deliveryTag: UInt64
        var consumerTag: String
    }

    /// A complete delivery from the leader, in the client's numbering: the deliveries that go
    /// to the client now, in order (this one, or none while it is held, or some held before).
    mutating func deliveryArrived(_ delivery: HeldDelivery) -> [Frame] {
        deliveriesHeld.append(delivery)
        heldByConsumer[delivery.consumerTag, default: 0] += 1
        return releaseHeld()
    }

    /// The client settled (acked, nacked or rejected) `tag`, or every tag up to it with
    /// `multiple` (0 with `multiple`: all): the deliveries that go to the client now.
    mutating func clientSettled(_ tag: UInt64, multiple: Bool) -> [Frame] {
        if multiple {
            while let first = deliveriesOut.first, tag == 0 || first.deliveryTag <= tag { settle(deliveriesOut.removeFirst()) }
        } else if let index = deliveriesOut.firstIndex(where: { $0.deliveryTag >= tag }), deliveriesOut[index].deliveryTag == tag {
            settle(deliveriesOut.remove(at: index))
        }
        return releaseHeld()
    }

    /// The session's tag for a client's ack or nack; nil when it settles nothing of this
    /// session. "All" (tag 0, multiple) is all the client has, not what is held here too.
    func leaderTagSettling(_ clientTag: UInt64, multiple: Bool) -> UInt64? {
        guard clientTag == 0, multiple, !deliveriesHeld.isEmpty else { return leaderTag(clientTag, multiple: multiple) }
        return lastTagToClient > deliveryTagOffset ? lastTagToClient - deliveryTagOffset : nil
    }

    /// A get-ok carries the next tag, and a cancel ends a consumer: what is held goes first.
    mutating func releaseAllHeld() -> [Frame] {
        var frames: [Frame] = []
        while !deliveriesHeld.isEmpty { frames += give(deliveriesHeld.removeFirst()) }
        return frames
    }

    /// The consumer is gone (cancelled, by the client or the leader): its deliveries are no
    /// longer held to a prefetch.
    mutating func consumerEnded(_ consumerTag: String) -> [Frame] {
        clientPrefetch[consumerTag] = nil
        return releaseHeld()
    }

    /// The channel went transactional or was recovered: what the leader counts as settled no
    /// longer follows the client's acks one for one, so deliveries pass as they come.
    mutating func stopHoldingDeliveries() -> [Frame] {
        let frames = releaseAllHeld()
        holdsDeliveries = false
        deliveriesOut = []
        outByConsumer = [:]
        return frames
    }

    /// The session is gone and the leader will deliver again what it had delivered.
    mutating func forgetSessionDeliveries() {
        deliveriesHeld = []
        heldByConsumer = [:]
        deliveriesOut = []
        outByConsumer = [:]
    }

    private mutating func releaseHeld() -> [Frame] {
        var frames: [Frame] = []
        while let head = deliveriesHeld.first, hasRoom(head.consumerTag) || heldForAnotherWithRoom() {
            frames += give(deliveriesHeld.removeFirst())
        }
        return frames
    }

    private func hasRoom(_ consumerTag: String) -> Bool {
        guard holdsDeliveries, let prefetch = clientPrefetch[consumerTag] else { return true }
        return outByConsumer[consumerTag, default: 0] < Int(prefetch)
    }

    /// Whether a consumer with room has a delivery held behind the head.
    private func heldForAnotherWithRoom() -> Bool {
        heldByConsumer.contains { $0.value > 0 && hasRoom($0.key) }
    }

    private mutating func give(_ delivery: HeldDelivery) -> [Frame] {
        heldByConsumer[delivery.consumerTag, default: 1] -= 1
        if heldByConsumer[delivery.consumerTag] == 0 { heldByConsumer[delivery.consumerTag] = nil }
        lastTagToClient = delivery.deliveryTag
        if holdsDeliveries, clientPrefetch[delivery.consumerTag] != nil {
            deliveriesOut.append(DeliveryOut(deliveryTag: delivery.deliveryTag, consumerTag: delivery.consumerTag))
            outByConsumer[delivery.consumerTag, default: 0] += 1
        }
        return delivery.frames
    }

    private mutating func settle(_ delivery: DeliveryOut) {
        outByConsumer[delivery.consumerTag, default: 1] -= 1
        if outByConsumer[delivery.consumerTag] == 0 { outByConsumer[delivery.consumerTag] = nil }
    }
}
