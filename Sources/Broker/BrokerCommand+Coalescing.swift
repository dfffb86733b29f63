extension BrokerCommand {
    /// `commands` with each run of consecutive settlements of one queue made one `settle`
    /// of at most `idsMax` ids, in order: what a turn of the loop's acks propose as one log
    /// entry instead of one each. Nothing moves past another command, so the log applies
    /// the same changes in the same order.
    public static func coalescingSettlements(_ commands: [BrokerCommand], idsMax: Int) -> [BrokerCommand] {
        var result: [BrokerCommand] = []
        result.reserveCapacity(commands.count)
        for command in commands {
            if case .settle(let next) = command, case .settle(var last)? = result.last, last.queue == next.queue,
                last.ids.count + next.ids.count <= idsMax
            {
                last.ids += next.ids
                result[result.count - 1] = .settle(last)
            } else {
                result.append(command)
            }
        }
        return result
    }
}
