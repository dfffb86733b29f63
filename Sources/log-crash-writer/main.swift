import Broker
import Glibc
import Log
import LogCrashSupport
import Node
import Raft

// Writes consecutive values through a durable one-node Raft group and prints "<index>
// <value>" for each one as soon as it is acknowledged (committed: durable on disk). The
// crash-loop test kills this process at random moments and checks that every printed entry
// survives. Usage: log-crash-writer DATA_DIR SEED
//
// With a third argument, `store`: a one-node broker group (`StoreCrashLoop`) publishes
// messages whose bodies carry consecutive values to one queue and settles the oldest now
// and then; it prints "p <value>" for each message once its publish is acknowledged and
// "s <value>" once its settlement is.
//
// With `groups`: one-node groups sharing one write-ahead log (`CrashLoopSettings
// .sharedLogGroupIDs`) each write their own consecutive values, a random few of them in each
// round, so that their records interleave in the log's segments; it prints "g <group>
// <index> <value>" for each entry once acknowledged.

func fail(_ message: String) -> Never {
    var line = "log-crash-writer: " + message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(2)
}

func emit(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var done = 0
        while done < bytes.count {
            let n = write(1, bytes.baseAddress! + done, bytes.count - done)
            if n <= 0 { exit(3) }
            done += n
        }
    }
}

/// Publishes and settles until killed (or, bounded, by itself).
func writeMessages(directory: String, seed: UInt64) throws {
    let (group, _) = try StoreCrashLoop.open(directory: directory, seed: seed)
    let reclaim = { (capture: RaftGroup<BrokerMachine>.SnapshotCapture) throws(LogError) in
        try StoreCrashLoop.reclaim(group.machine, by: capture)
    }
    if group.machine.state.queue(StoreCrashLoop.queue) == nil {
        let declaration = QueueDeclaration(name: StoreCrashLoop.queue.name, owner: "crash-loop", timestamp: 0)
        try group.propose([BrokerCommand.declareQueue(declaration).encoded()])
        try group.process(snapshotSaved: reclaim)
    }
    emit("ready \(group.core.appliedIndex)\n")
    var random = SeededGenerator(seed: seed)
    // Values go on from the newest message stored; the queue never empties (a few always
    // stay), so the newest is always there to say where.
    let stored = StoreCrashLoop.queuedValues(in: group.machine)
    guard stored.allSatisfy({ $0 != nil }) else { fail("a stored record is damaged") }
    var next = (stored.last.flatMap { $0 } ?? 0) + 1
    var settling: [MessageID: UInt64] = [:]
    for _ in 0..<20_000 {
        var commands: [[UInt8]] = []
        let count = UInt64.random(in: 1...24, using: &random)
        let publishes = (next..<next + count).map { value in
            Publish(message: Message(exchange: "", routingKey: StoreCrashLoop.queue.name, body: StoreCrashLoop.body(value: value)), queues: [StoreCrashLoop.queue])
        }
        next += count
        commands.append(BrokerCommand.enqueue(Enqueue(timestamp: 0, messages: publishes)).encoded())
        if let queue = group.machine.state.queue(StoreCrashLoop.queue), queue.messages.count > 60, Int.random(in: 0..<3, using: &random) == 0 {
            let oldest = Array(queue.messages.prefix(Int.random(in: 1...(queue.messages.count - 20), using: &random)).map(\.id))
            let values = StoreCrashLoop.queuedValues(in: group.machine)
            for (id, value) in zip(oldest, values) {
                guard let value else { fail("the record of message \(id) is damaged") }
                settling[id] = value
            }
            commands.append(BrokerCommand.settle(MessageBatch(queue: StoreCrashLoop.queue, ids: oldest)).encoded())
        }
        try group.propose(commands)
        let applied = try group.process(snapshotSaved: reclaim)
        var lines = ""
        for entry in applied {
            switch try BrokerCommand(decoding: entry.data, limits: StoreCrashLoop.limits) {
            case .enqueue(let enqueue):
                for publish in enqueue.messages {
                    guard let value = StoreCrashLoop.value(inBody: publish.message.body) else { fail("entry \(entry.index) is damaged") }
                    lines += "p \(value)\n"
                }
            case .settle(let batch):
                for id in batch.ids {
                    if let value = settling.removeValue(forKey: id) { lines += "s \(value)\n" }
                }
            default:
                break
            }
        }
        emit(lines)
    }
}

/// Writes values through several groups over one shared log until killed (or, bounded, by
/// itself).
func writeGroups(directory: String, seed: UInt64) throws {
    let log = try WriteAheadLog.open(dataDirectory: directory, options: CrashLoopSettings.logOptions)
    var groups: [(id: UInt64, group: RaftGroup<ValueRuns>)] = []
    for id in CrashLoopSettings.sharedLogGroupIDs {
        let (storage, recovery) = try DurableStorage.open(dataDirectory: directory, groupID: id, log: log, options: CrashLoopSettings.storageOptions)
        let group = try RaftGroup(
            config: Config(id: CrashLoopSettings.nodeID, randomSeed: seed &+ id), storage: storage, recovered: recovery.state,
            snapshot: recovery.snapshot?.snapshot, machine: ValueRuns(), bootstrapVoters: [CrashLoopSettings.nodeID], options: CrashLoopSettings.groupOptions)
        guard try group.campaignAlone() else { fail("a group of one did not elect itself") }
        groups.append((id, group))
    }
    emit("ready 0\n")
    var random = SeededGenerator(seed: seed)
    for _ in 0..<20_000 {
        var lines = ""
        for (id, group) in groups where Bool.random(using: &random) {
            let next = group.machine.lastValue + 1
            let count = UInt64.random(in: 1...32, using: &random)
            try group.propose((next..<next + count).map { ValueRuns.payload(value: $0) })
            lines += try group.process().map { "g \(id) \($0.index) \(ValueRuns.value(in: $0.data)!)\n" }.joined()
        }
        emit(lines)
    }
}

let arguments = CommandLine.arguments
guard arguments.count == 3 || (arguments.count == 4 && ["store", "groups"].contains(arguments[3])), let seed = UInt64(arguments[2]) else {
    fail("usage: log-crash-writer DATA_DIR SEED [store|groups]")
}
if arguments.count == 4 {
    do {
        if arguments[3] == "store" { try writeMessages(directory: arguments[1], seed: seed) } else { try writeGroups(directory: arguments[1], seed: seed) }
    } catch {
        fail("\(error)")
    }
    exit(0)
}

do {
    let (storage, recovery) = try DurableStorage.open(
        dataDirectory: arguments[1], groupID: CrashLoopSettings.groupID, options: CrashLoopSettings.storageOptions)
    let group = try RaftGroup(
        config: Config(id: CrashLoopSettings.nodeID, randomSeed: seed), storage: storage, recovered: recovery.state,
        snapshot: recovery.snapshot?.snapshot, machine: ValueRuns(), bootstrapVoters: [CrashLoopSettings.nodeID], options: CrashLoopSettings.groupOptions)
    guard try group.campaignAlone() else { fail("a group of one did not elect itself") }
    emit("ready \(group.core.appliedIndex)\n")
    var random = SeededGenerator(seed: seed)
    // Bounded: the parent kills us long before, but we stop by ourselves regardless.
    for _ in 0..<20_000 {
        let next = group.machine.lastValue + 1
        let count = UInt64.random(in: 1...64, using: &random)
        try group.propose((next..<next + count).map { ValueRuns.payload(value: $0) })
        let applied = try group.process()
        emit(applied.map { "\($0.index) \(ValueRuns.value(in: $0.data)!)\n" }.joined())
    }
} catch {
    fail("\(error)")
}
