@testable import berth_chaos

/// A history written by hand, one event a millisecond unless a test says when.
struct HandMadeHistory {
    var events: [Event] = []
    var now: Int64 = 0

    mutating func record(_ kind: Event.Kind, actor: String, at millis: Int64? = nil, _ fill: (inout Event) -> Void = { _ in }) {
        now = millis ?? now + 1
        var event = Event(millis: now, kind: kind, actor: actor)
        fill(&event)
        events.append(event)
    }

    mutating func publish(_ publisher: Int, _ sequence: Int, queue: Int = 0, attempt: Int = 1, priority: Int = 0) {
        record(.publish, actor: "p\(publisher)") {
            $0.publisher = publisher; $0.sequence = sequence; $0.attempt = attempt; $0.queue = queue; $0.priority = priority
        }
    }

    /// `watermark`: the publisher's next new sequence number when the confirm came.
    mutating func confirm(_ publisher: Int, _ sequence: Int, queue: Int = 0, attempt: Int = 1, watermark: Int, at millis: Int64? = nil) {
        record(.confirm, actor: "p\(publisher)", at: millis) {
            $0.publisher = publisher; $0.sequence = sequence; $0.attempt = attempt; $0.queue = queue; $0.watermark = watermark
        }
    }

    /// Published and confirmed before the publisher sent anything else.
    mutating func publishConfirmed(_ publisher: Int, _ sequence: Int, queue: Int = 0) {
        publish(publisher, sequence, queue: queue)
        confirm(publisher, sequence, queue: queue, watermark: sequence + 1)
    }

    mutating func publishConfirmed(_ publisher: Int, _ sequences: ClosedRange<Int>, queue: Int = 0) {
        for sequence in sequences { publishConfirmed(publisher, sequence, queue: queue) }
    }

    /// The first attempt's confirm never came (indeterminate); the second was confirmed
    /// before the publisher sent anything else.
    mutating func publishConfirmedOnSecondAttempt(_ publisher: Int, _ sequence: Int, queue: Int = 0) {
        publish(publisher, sequence, queue: queue, attempt: 1)
        indeterminate(publisher, sequence, queue: queue, attempt: 1)
        publish(publisher, sequence, queue: queue, attempt: 2)
        confirm(publisher, sequence, queue: queue, attempt: 2, watermark: sequence + 1)
    }

    mutating func indeterminate(_ publisher: Int, _ sequence: Int, queue: Int = 0, attempt: Int = 1) {
        record(.indeterminate, actor: "p\(publisher)") { $0.publisher = publisher; $0.sequence = sequence; $0.attempt = attempt; $0.queue = queue }
    }

    mutating func deliver(
        _ publisher: Int, _ sequence: Int, queue: Int = 0, attempt: Int = 1, to consumer: String = "c1", redelivered: Bool = false, at millis: Int64? = nil
    ) {
        record(.deliver, actor: consumer, at: millis) {
            $0.publisher = publisher; $0.sequence = sequence; $0.attempt = attempt; $0.queue = queue; $0.redelivered = redelivered
        }
    }

    mutating func deliver(_ publisher: Int, _ sequences: [Int], queue: Int = 0, to consumer: String = "c1") {
        for sequence in sequences { deliver(publisher, sequence, queue: queue, to: consumer) }
    }

    /// A consumer about to reject the delivery without requeue, so that it is dead-lettered.
    mutating func reject(_ publisher: Int, _ sequence: Int, queue: Int = 0, by consumer: String = "c1") {
        record(.reject, actor: consumer) { $0.publisher = publisher; $0.sequence = sequence; $0.queue = queue }
    }

    /// The queue that the hand-made histories' queues dead-letter to.
    static let deadLetterQueue = 9

    var verdict: Verdict { Checker.check(events, deadLetterQueue: Self.deadLetterQueue) }
}

func message(_ publisher: Int, _ sequence: Int) -> MessageID {
    MessageID(publisher: publisher, sequence: sequence)
}
