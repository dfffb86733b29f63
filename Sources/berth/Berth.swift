import ArgumentParser

@main
struct Berth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "Berth: a clustered message broker that does not lose confirmed messages.",
        subcommands: [NodeCommand.self, NodesCommand.self, QueuesCommand.self, LeaveCommand.self, RemoveCommand.self, UsersCommand.self, VHostsCommand.self, PermissionsCommand.self, PublishCommand.self, ConsumeCommand.self, Bench.self]
    )
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure parts of Berth on this machine.", subcommands: [LogBench.self, AvailabilityBench.self, BacklogBench.self])
}
