import XCTest

@testable import Gossip

/// Members, instances and directive filters for handler-level tests: build an instance,
/// feed it one event, look at what it asks for. No network anywhere.
enum Fixture {
    static func peer(_ id: SWIM.NodeID) -> SWIM.HostPort { SWIM.HostPort(host: "10.0.0.\(id)", port: 4370) }

    static func addresses(_ id: SWIM.NodeID) -> SWIM.Addresses {
        SWIM.Addresses(peer: peer(id), amqp: SWIM.HostPort(host: "10.0.0.\(id)", port: 5672),
                       http: SWIM.HostPort(host: "10.0.0.\(id)", port: 15672))
    }

    static func member(_ id: SWIM.NodeID, _ status: SWIM.Status = .alive, incarnation: SWIM.Incarnation = 0) -> SWIM.Member {
        SWIM.Member(id: id, incarnation: incarnation, status: status, addresses: addresses(id))
    }

    static func settings(seed: UInt64 = 42, _ configure: (inout SWIM.Settings) -> Void = { _ in }) -> SWIM.Settings {
        var settings = SWIM.Settings(randomSeed: seed)
        configure(&settings)
        return settings
    }

    /// Node `id`, knowing `others` as alive (incarnation 0).
    static func instance(
        _ id: SWIM.NodeID = 1, knowing others: [SWIM.NodeID], seed: UInt64 = 42,
        _ configure: (inout SWIM.Settings) -> Void = { _ in }
    ) -> SWIMInstance {
        try! SWIMInstance(settings: settings(seed: seed, configure), id: id, addresses: addresses(id),
                          knownMembers: others.map { member($0) })
    }
}

/// A message a directive asks to send, with where to.
struct Sent: Equatable {
    var message: SWIM.Message
    var to: SWIM.HostPort

    /// The node the test fixtures gave this address.
    var toID: SWIM.NodeID { UInt64(to.host.split(separator: ".").last!)! }
    var updates: [SWIM.Member] { message.members }
}

extension Array where Element == SWIM.Directive {
    var sent: [Sent] {
        compactMap { directive in
            switch directive {
            case .send(let message, let to): return Sent(message: message, to: to)
            case .scheduleTimeout, .event: return nil
            }
        }
    }

    var events: [SWIM.MembershipEvent] {
        compactMap { directive in
            switch directive {
            case .event(let event): return event
            case .send, .scheduleTimeout: return nil
            }
        }
    }

    var timeouts: [(sequence: SWIM.SequenceNumber, delayMs: SWIM.Millis)] {
        compactMap { directive in
            switch directive {
            case .scheduleTimeout(let sequence, let delayMs): return (sequence, delayMs)
            case .send, .event: return nil
            }
        }
    }

    /// The pings among the sends.
    var pings: [Sent] { sent.filter { $0.message.name == "ping" } }
}

extension SWIMInstance {
    /// Feeds a message as if it arrived from node `from`'s fixture address.
    mutating func receive(_ body: SWIM.Message.Body, from: SWIM.NodeID, sequence: SWIM.SequenceNumber = 1000, now: SWIM.Millis) -> [SWIM.Directive] {
        onMessage(SWIM.Message(from: from, sequence: sequence, body: body), from: Fixture.peer(from), now: now)
    }

    /// The target's ack to this period's probe, if one is in flight.
    mutating func ackProbe(now: SWIM.Millis) -> [SWIM.Directive] {
        guard let probe else { return [] }
        let incarnation = member(probe.target)?.incarnation ?? 0
        return receive(.ack(target: probe.target, incarnation: incarnation, updates: []), from: probe.target,
                       sequence: probe.sequence, now: now)
    }
}
