@testable import Gossip

/// Many SWIM instances in one process, on a seeded network that loses, delays (and so
/// reorders) and partitions datagrams, in simulated milliseconds. Every message goes
/// through the wire codec. Nothing reads a clock or unseeded randomness: the same seed and
/// the same calls give the same run, event for event.
///
/// The cluster only runs instances and records what they report; judging the run is left to
/// the checks in the tests (the checkers stand apart from the code they check).
final class SimulatedCluster {
    struct Record: Equatable, CustomStringConvertible {
        var time: SWIM.Millis
        var observer: SWIM.NodeID
        var event: SWIM.MembershipEvent

        var description: String { "t=\(time) @\(observer) \(event)" }
    }

    enum Item {
        case tick(SWIM.NodeID)
        case timeout(SWIM.NodeID, SWIM.SequenceNumber)
        case deliver(to: SWIM.NodeID, from: SWIM.HostPort, bytes: [UInt8])
    }

    let seed: UInt64
    let settings: (SWIM.NodeID) -> SWIM.Settings
    private(set) var now: SWIM.Millis = 0
    private(set) var instances: [SWIM.NodeID: SWIMInstance] = [:]
    /// Nodes whose process runs; a killed node keeps its last instance for inspection.
    private(set) var running: Set<SWIM.NodeID> = []
    private(set) var log: [Record] = []
    private(set) var killedAt: [SWIM.NodeID: SWIM.Millis] = [:]
    private(set) var sentCount = 0
    private(set) var droppedCount = 0
    private(set) var largestDatagram = 0

    /// Probability that a datagram is lost.
    var loss: Double
    /// One-way delay of a delivered datagram, drawn uniformly.
    var delayMs: ClosedRange<SWIM.Millis>
    /// Called with every delivered message, for exploring a run.
    var onDeliver: ((SWIM.Millis, SWIM.NodeID, SWIM.Message) -> Void)?
    /// Directed links that drop everything: (from, to).
    private var cut: Set<[SWIM.NodeID]> = []

    private var queue = EventQueue<Item>()
    private var random: SeededGenerator
    private var byPeer: [SWIM.HostPort: SWIM.NodeID] = [:]

    /// `count` nodes, ids 1...count, each knowing all the others from the start (static
    /// bootstrap), their first ticks spread over the first period.
    init(
        nodes count: Int, seed: UInt64, loss: Double = 0, delayMs: ClosedRange<SWIM.Millis> = 1...20,
        configure: @escaping (inout SWIM.Settings) -> Void = { _ in }
    ) {
        self.seed = seed
        self.loss = loss
        self.delayMs = delayMs
        random = SeededGenerator(seed: seed)
        settings = { id in
            var settings = SWIM.Settings(randomSeed: seed &* 1_000_003 &+ id)
            configure(&settings)
            return settings
        }
        let ids = (1...UInt64(count)).map { $0 }
        for id in ids {
            let others = ids.filter { $0 != id }.map { Fixture.member($0) }
            start(try! SWIMInstance(settings: settings(id), id: id, addresses: Fixture.addresses(id), knownMembers: others))
        }
    }

    var interval: SWIM.Millis { settings(1).probeIntervalMs }

    /// Periods elapsed since `time`, rounded up.
    func periods(since time: SWIM.Millis, until end: SWIM.Millis) -> Int {
        Int((end - time + interval - 1) / interval)
    }

    // MARK: Faults and membership

    /// A new node `id` that knows no one and joins through `seeds`.
    func join(_ id: SWIM.NodeID, seeds: [SWIM.NodeID]) {
        var instance = try! SWIMInstance(settings: settings(id), id: id, addresses: Fixture.addresses(id))
        let directives = instance.join(seeds: seeds.map(Fixture.peer), now: now)
        start(instance)
        carryOut(directives, of: id)
    }

    /// Stops the node's process: it sends and receives nothing more.
    func kill(_ id: SWIM.NodeID) {
        running.remove(id)
        killedAt[id] = now
    }

    /// The node's resource alarms are now `alarms`.
    func setAlarms(_ id: SWIM.NodeID, _ alarms: SWIM.Alarms) {
        guard var instance = instances[id] else { return }
        let directives = instance.setAlarms(alarms, now: now)
        instances[id] = instance
        carryOut(directives, of: id)
    }

    /// The node announces it leaves, then stops.
    func leave(_ id: SWIM.NodeID) {
        guard var instance = instances[id] else { return }
        let directives = instance.leave(now: now)
        instances[id] = instance
        carryOut(directives, of: id)
        running.remove(id)
    }

    /// Cuts every link between the two groups, both ways.
    func partition(_ a: [SWIM.NodeID], _ b: [SWIM.NodeID]) {
        for x in a {
            for y in b {
                cut.insert([x, y])
                cut.insert([y, x])
            }
        }
    }

    func heal() { cut = [] }

    // MARK: Running

    func run(for duration: SWIM.Millis) {
        run(until: now + duration)
    }

    func run(until end: SWIM.Millis) {
        while let time = queue.nextTime, time <= end {
            let (at, item) = queue.pop()!
            now = at
            step(item)
        }
        now = end
    }

    /// Runs period by period until `done` holds or `limit` passes; returns whether it held.
    func run(until done: (SimulatedCluster) -> Bool, limit: SWIM.Millis) -> Bool {
        let end = now + limit
        while now < end {
            if done(self) { return true }
            run(until: min(end, now + interval))
        }
        return done(self)
    }

    /// What `observer` believes about `id`.
    func status(of id: SWIM.NodeID, at observer: SWIM.NodeID) -> SWIM.Status? {
        instances[observer]?.member(id)?.status
    }

    var runningIDs: [SWIM.NodeID] { running.sorted() }

    // MARK: Internals

    private func start(_ instance: SWIMInstance) {
        let id = instance.myself.id
        instances[id] = instance
        running.insert(id)
        byPeer[Fixture.peer(id)] = id
        queue.push(.tick(id), at: now + UInt64(random.below(Int(instance.settings.probeIntervalMs))))
    }

    private func step(_ item: Item) {
        switch item {
        case .tick(let id):
            guard running.contains(id), var instance = instances[id] else { return }
            queue.push(.tick(id), at: now + instance.settings.probeIntervalMs)
            let directives = instance.onPeriodicTick(now: now)
            instances[id] = instance
            carryOut(directives, of: id)
        case .timeout(let id, let sequence):
            guard running.contains(id), var instance = instances[id] else { return }
            let directives = instance.onTimeout(sequence: sequence, now: now)
            instances[id] = instance
            carryOut(directives, of: id)
        case .deliver(let id, let source, let bytes):
            guard running.contains(id), var instance = instances[id] else { return }
            let message = try! SWIM.Message(decoding: bytes)
            onDeliver?(now, id, message)
            let directives = instance.onMessage(message, from: source, now: now)
            instances[id] = instance
            carryOut(directives, of: id)
        }
    }

    private func carryOut(_ directives: [SWIM.Directive], of id: SWIM.NodeID) {
        for directive in directives {
            switch directive {
            case .send(let message, let address):
                send(message, from: id, to: address)
            case .scheduleTimeout(let sequence, let delayMs):
                queue.push(.timeout(id, sequence), at: now + delayMs)
            case .event(let event):
                log.append(Record(time: now, observer: id, event: event))
            }
        }
    }

    private func send(_ message: SWIM.Message, from id: SWIM.NodeID, to address: SWIM.HostPort) {
        let bytes = message.encoded()
        sentCount += 1
        largestDatagram = max(largestDatagram, bytes.count)
        // Draw both numbers for every datagram, so a fault elsewhere does not shift the
        // random stream of unrelated deliveries.
        let lost = Double(random.next() >> 11) / Double(1 << 53) < loss
        let delay = delayMs.lowerBound + UInt64(random.below(Int(delayMs.upperBound - delayMs.lowerBound) + 1))
        guard let to = byPeer[address], running.contains(id), running.contains(to), !cut.contains([id, to]), !lost else {
            droppedCount += 1
            return
        }
        queue.push(.deliver(to: to, from: Fixture.peer(id), bytes: bytes), at: now + delay)
    }
}
