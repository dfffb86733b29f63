/// The dead-letter history a message carries in its headers, written as RabbitMQ writes it:
/// `x-death` is an array of tables, most recent first, one per (queue, reason) with
/// `count`, `reason`, `queue`, `time`, `exchange`, `routing-keys` (and
/// `original-expiration` when the message had its own TTL); a repeat of the same queue and
/// reason increments `count` and moves the entry to the front. `x-first-death-*` record the
/// first death and never change. (RabbitMQ 3.13 added `x-last-death-*`; 3.10, whose clients
/// compare whole header tables, writes none, and neither does Berth.)
enum DeathHistory {
    /// Records a death of `message` in `queue` and prepares it for its dead-letter exchange:
    /// its `expiration` moves into the new `x-death` entry as `original-expiration`.
    static func record(_ message: inout Message, reason: DeadLetterReason, queue: String, timestamp: Int64) {
        var headers = message.properties.headers ?? ArgumentTable()
        var deaths: [ArgumentValue] = []
        if case .array(let existing)? = headers["x-death"] { deaths = existing }

        let match = deaths.firstIndex { entry in
            guard case .table(let table) = entry else { return false }
            return table["queue"]?.stringValue == queue && table["reason"]?.stringValue == reason.name
        }
        if let match, case .table(var table) = deaths[match] {
            let count = table["count"]?.integerValue ?? 0
            table["count"] = .int64(count &+ 1)
            deaths.remove(at: match)
            deaths.insert(.table(table), at: 0)
        } else {
            var table: ArgumentTable = [
                "count": .int64(1),
                "reason": .string(reason.name),
                "queue": .string(queue),
                "time": .timestamp(UInt64(clamping: timestamp / 1000)),
                "exchange": .string(message.exchange),
                "routing-keys": .array(deathRoutingKeys(message).map(ArgumentValue.string)),
            ]
            if let expiration = message.properties.expiration {
                table.entries.insert(ArgumentTable.Entry(key: "original-expiration", value: .string(expiration)), at: 0)
            }
            deaths.insert(.table(table), at: 0)
        }
        headers["x-death"] = .array(deaths)
        if headers["x-first-death-reason"] == nil {
            headers["x-first-death-reason"] = .string(reason.name)
            headers["x-first-death-queue"] = .string(queue)
            headers["x-first-death-exchange"] = .string(message.exchange)
        }
        message.properties.headers = headers
        message.properties.expiration = nil
    }

    /// The routing keys a death records: the routing key and `CC`, never `BCC`.
    private static func deathRoutingKeys(_ message: Message) -> [String] {
        [message.routingKey] + Message.stringList(message.properties.headers?["CC"])
    }

    /// RabbitMQ's cycle rule: a message dead-lettered into `target` again, with no `rejected`
    /// death since it last died there, would circle forever without any client's say; it is
    /// dropped instead. `headers` already hold the death being recorded.
    static func isCycle(target: String, in headers: ArgumentTable?) -> Bool {
        guard case .array(let deaths)? = headers?["x-death"] else { return false }
        for entry in deaths {
            guard case .table(let table) = entry else { continue }
            if table["reason"]?.stringValue == DeadLetterReason.rejected.name { return false }
            if table["queue"]?.stringValue == target { return true }
        }
        return false
    }
}
