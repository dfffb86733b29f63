import Glibc
import Log
import LogCrashSupport
import Node
import Raft

// Writes consecutive values through a durable one-node Raft group and prints "<index>
// <value>" for each one as soon as it is acknowledged (committed: durable on disk). The
// crash-loop test kills this process at random moments and checks that every printed entry
// survives. Usage: log-crash-writer DATA_DIR SEED

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

let arguments = CommandLine.arguments
guard arguments.count == 3, let seed = UInt64(arguments[2]) else { fail("usage: log-crash-writer DATA_DIR SEED") }

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
        try group.propose((next..<next + count).map(ValueRuns.payload))
        let applied = try group.process()
        emit(applied.map { "\($0.index) \(ValueRuns.value(in: $0.data)!)\n" }.joined())
    }
} catch {
    fail("\(error)")
}
