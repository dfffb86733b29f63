import Client
import Node
import StatusAPI
import Synchronization

extension Workload {
    /// Consumes every queue to its end through one connection, acking everything, until no
    /// delivery has come for `quiet` and the leader counts no message in any queue. Returns
    /// the queues still holding messages when `timeout` passed (empty when drained).
    func drain(cluster: Cluster, quiet: Duration = .seconds(2), timeout: Duration) async -> [String] {
        var random = SeededGenerator(seed: seed ^ 0xD1A1)
        let deadline = ContinuousClock.now + timeout
        let progress = DrainProgress()
        var remaining = ["(the drain never connected)"]
        while ContinuousClock.now < deadline {
            let leader = await cluster.leader()
            guard let reached = await connect(avoiding: 0, random: &random, preferring: leader) else {
                try? await Task.sleep(for: .milliseconds(500))
                continue
            }
            let (connection, node) = reached
            progress.readersEnded.withLock { $0 = 0 }
            history.record(.connect, actor: "drain") { $0.node = node }
            let readers = drainedQueues.map { queue in
                Task {
                    defer { progress.readersEnded.withLock { $0 += 1 } }
                    do {
                        let channel = try await connection.openChannel()
                        try await channel.qos(prefetchCount: 100)
                        for try await delivery in try await channel.consume(queue: self.queueName(queue)) {
                            progress.lastDelivery.withLock { $0 = ContinuousClock.now }
                            self.record(delivery, queue: queue, actor: "drain", node: node)
                            try await channel.ack(deliveryTag: delivery.deliveryTag)
                        }
                    } catch {
                        self.history.record(.disconnect, actor: "drain") { $0.node = node; $0.queue = queue; $0.detail = "\(error)" }
                    }
                }
            }
            while ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(500))
                remaining = await nonEmptyQueues(cluster: cluster)
                let sinceLastDelivery = ContinuousClock.now - progress.lastDelivery.withLock({ $0 })
                let idle = sinceLastDelivery >= quiet
                if remaining.isEmpty, idle { break }
                // A reader that failed (its node went away) needs a new connection.
                if progress.readersEnded.withLock({ $0 }) > 0 { break }
            }
            await connection.close()
            for reader in readers { await reader.value }
            if remaining.isEmpty { return [] }
        }
        return remaining
    }

    /// The queues the leader counts messages in, as "name: count" (but the stream, which
    /// keeps what it is read), and the delayed exchange if it still holds any (they fire into
    /// the queues); one entry saying there is no leader when none answers.
    func nonEmptyQueues(cluster: Cluster) async -> [String] {
        guard let leader = await cluster.leader(), let status = try? await cluster.statusClient(leader).queues() else {
            return ["(no leader answered)"]
        }
        let stream = queueName(streamQueue)
        // Dead letters waiting in their source count: a retry forwards them once there is room.
        var remaining = status.queues.filter { $0.messages + ($0.pendingDeadLetters ?? 0) > 0 && $0.name != stream }.map {
            "\($0.name): \($0.messages)" + ($0.pendingDeadLetters.map { ", \($0) dead letters waiting" } ?? "")
        }
        guard let exchange = try? await cluster.statusClient(leader).exchange(vhost: "/", Self.delayedExchange) else {
            return remaining + ["(\(Self.delayedExchange) not read)"]
        }
        if let held = exchange.messages_delayed, held > 0 { remaining.append("\(Self.delayedExchange): \(held) held") }
        return remaining
    }
}

/// What the drain's readers tell the loop watching them.
final class DrainProgress: Sendable {
    let lastDelivery = Mutex(ContinuousClock.now)
    let readersEnded = Mutex(0)
}

/// Whether every node has reached the same state: all answer, with the same applied index,
/// the same leader, and the same queues holding the same counts. Waits up to `timeout`;
/// returns what still differed then (empty when they agree).
func disagreement(cluster: Cluster, timeout: Duration) async -> [String] {
    let deadline = ContinuousClock.now + timeout
    var differences: [String] = []
    repeat {
        differences = []
        let statuses = await cluster.statuses()
        var queues: [Int: [String]] = [:]
        let members = await cluster.occupiedSlots
        for node in members {
            guard let status = try? await cluster.statusClient(node).queues() else { continue }
            queues[node] = status.queues.map { "\($0.vhost)/\($0.name)=\($0.messages)" }.sorted()
        }
        let missing = members.filter { statuses[$0] == nil || queues[$0] == nil }
        if !missing.isEmpty { differences.append("no answer from node(s) \(missing.map(String.init).joined(separator: ", "))") }
        let applied = Set(statuses.values.map(\.appliedIndex))
        if applied.count > 1 {
            differences.append("applied index differs: " + statuses.sorted { $0.key < $1.key }.map { "node \($0.key) \($0.value.appliedIndex)" }.joined(separator: ", "))
        }
        if Set(statuses.values.map(\.leader)).count > 1 { differences.append("nodes name different leaders") }
        if Set(queues.values).count > 1 {
            differences.append("queues differ: " + queues.sorted { $0.key < $1.key }.map { "node \($0.key) [\($0.value.joined(separator: " "))]" }.joined(separator: "; "))
        }
        if differences.isEmpty { return [] }
        try? await Task.sleep(for: .milliseconds(500))
    } while ContinuousClock.now < deadline
    return differences
}
