import ArgumentParser

@main
struct Berth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "Berth: a clustered message broker that does not lose confirmed messages.",
        subcommands: [
            NodeCommand.self, NodesCommand.self, QueuesCommand.self, LeaveCommand.self, RemoveCommand.self, UsersCommand.self, VHostsCommand.self,
            PermissionsCommand.self, PublishCommand.self, ConsumeCommand.self, Bench.self,
        ] + rabbitmqctlCommands
    )

    /// rabbitmqctl's everyday commands by their names (CtlCommands.swift).
    static let rabbitmqctlCommands: [any ParsableCommand.Type] = [
        ListQueuesCommand.self, ListExchangesCommand.self, ListBindingsCommand.self, ListConnectionsCommand.self, ListChannelsCommand.self,
        ListConsumersCommand.self, CloseConnectionCommand.self, ListUsersCommand.self, ListVHostsCommand.self,
        ListPermissionsCommand.self, AddUserCommand.self, DeleteUserCommand.self, SetPermissionsCommand.self, AddVHostCommand.self,
        DeleteVHostCommand.self, ExportDefinitionsCommand.self, ImportDefinitionsCommand.self, PurgeQueueCommand.self, DeleteQueueCommand.self,
        ClusterStatusCommand.self,
    ]

    /// `berth node --config FILE` becomes the file's arguments and then the user's before
    /// ArgumentParser parses them (NodeCommand+ConfigFile.swift).
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == NodeCommand.configuration.commandName {
            do {
                arguments = [arguments[0]] + (try NodeCommand.applyingConfigFile(to: Array(arguments.dropFirst())))
            } catch {
                NodeCommand.exit(withError: error)
            }
        }
        await main(arguments)
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure parts of Berth on this machine.", subcommands: [LogBench.self, AvailabilityBench.self, BacklogBench.self, DelayedBench.self, StreamBench.self])
}
