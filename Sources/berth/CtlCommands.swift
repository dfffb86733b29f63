import ArgumentParser
import FoundationEssentials
import StatusAPI

// rabbitmqctl's everyday commands under its own names, on the management routes of the first
// node given that answers. Where `berth users`, `berth vhosts` or `berth permissions` already
// do the same, the command here is only its other name: both run the same argument group.

/// rabbitmqctl's `-p VHOST`, which defaults to the default vhost.
struct VHostOption: ParsableArguments {
    @Option(name: [.customShort("p"), .long], help: "The vhost.")
    var vhost = "/"
}

extension InfoListing where Item == QueueInfo {
    static let queues = InfoListing("list_queues", defaults: ["name", "messages"], [
        ("name", { .string($0.name) }),
        ("messages", { .int(Int64($0.messages)) }),
        ("messages_ready", { .int(Int64($0.messages_ready)) }),
        ("messages_unacknowledged", { .int(Int64($0.messages_unacknowledged)) }),
        ("consumers", { .int(Int64($0.consumers)) }),
        ("durable", { .bool($0.durable) }),
        ("auto_delete", { .bool($0.auto_delete) }),
        ("arguments", { .object($0.arguments) }),
        ("type", { .string($0.type) }),
        ("leader", { .string($0.leader) }),
        ("members", { .array($0.members.map(JSONValue.string)) }),
    ])
}

extension InfoListing where Item == ExchangeInfo {
    static let exchanges = InfoListing("list_exchanges", defaults: ["name", "type"], [
        ("name", { .string($0.name) }),
        ("type", { .string($0.type) }),
        ("durable", { .bool($0.durable) }),
        ("auto_delete", { .bool($0.auto_delete) }),
        ("internal", { .bool($0.internal) }),
        ("arguments", { .object($0.arguments) }),
    ])
}

extension InfoListing where Item == BindingInfo {
    static let bindings = InfoListing(
        "list_bindings", defaults: ["source_name", "source_kind", "destination_name", "destination_kind", "routing_key", "arguments"], [
            ("source_name", { .string($0.source) }),
            // Only an exchange is ever a binding's source.
            ("source_kind", { _ in .string("exchange") }),
            ("destination_name", { .string($0.destination) }),
            ("destination_kind", { .string($0.destination_type) }),
            ("routing_key", { .string($0.routing_key) }),
            ("arguments", { .object($0.arguments) }),
        ])
}

extension InfoListing where Item == UserInfo {
    static let users = InfoListing("list_users", defaults: ["user", "tags"], [
        ("user", { .string($0.name) }),
        ("tags", { .array($0.tags.map(JSONValue.string)) }),
    ])
}

extension InfoListing where Item == VHostInfo {
    static let vhosts = InfoListing("list_vhosts", defaults: ["name"], [
        ("name", { .string($0.name) }),
        ("description", { .string($0.description) }),
        ("tags", { .array($0.tags.map(JSONValue.string)) }),
        ("default_queue_type", { .string($0.default_queue_type) }),
    ])
}

extension InfoListing where Item == PermissionInfo {
    static let permissions = InfoListing("list_permissions", defaults: ["user", "configure", "write", "read"], [
        ("vhost", { .string($0.vhost) }),
        ("user", { .string($0.user) }),
        ("configure", { .string($0.configure) }),
        ("write", { .string($0.write) }),
        ("read", { .string($0.read) }),
    ])
}

extension InfoListing where Item == ConnectionInfo {
    static let connections = InfoListing("list_connections", defaults: ["user", "peer_host", "peer_port", "state"], [
        ("name", { .string($0.name) }),
        ("node", { .string($0.node) }),
        ("user", { .string($0.user) }),
        ("vhost", { .string($0.vhost) }),
        ("host", { .string($0.host) }),
        ("port", { .int(Int64($0.port)) }),
        ("peer_host", { .string($0.peer_host) }),
        ("peer_port", { .int(Int64($0.peer_port)) }),
        ("state", { .string($0.state) }),
        ("ssl", { .bool($0.ssl) }),
        ("protocol", { .string($0.protocol) }),
        ("auth_mechanism", { .string($0.auth_mechanism) }),
        ("channels", { .int(Int64($0.channels)) }),
        ("channel_max", { .int(Int64($0.channel_max)) }),
        ("frame_max", { .int(Int64($0.frame_max)) }),
        ("timeout", { .int(Int64($0.timeout)) }),
        ("connected_at", { .int($0.connected_at) }),
        ("client_properties", { .object($0.client_properties) }),
    ])
}

extension InfoListing where Item == ChannelInfo {
    static let channels = InfoListing("list_channels", defaults: ["name", "user", "consumer_count", "messages_unacknowledged"], [
        ("name", { .string($0.name) }),
        ("node", { .string($0.node) }),
        ("connection", { .string($0.connection_details.name) }),
        ("number", { .int(Int64($0.number)) }),
        ("user", { .string($0.user) }),
        ("vhost", { .string($0.vhost) }),
        ("transactional", { .bool($0.transactional) }),
        ("confirm", { .bool($0.confirm) }),
        ("consumer_count", { .int(Int64($0.consumer_count)) }),
        ("messages_unacknowledged", { .int(Int64($0.messages_unacknowledged)) }),
        ("messages_unconfirmed", { .int(Int64($0.messages_unconfirmed)) }),
        ("prefetch_count", { .int(Int64($0.prefetch_count)) }),
        ("global_prefetch_count", { .int(Int64($0.global_prefetch_count)) }),
        ("state", { .string($0.state) }),
    ])
}

extension InfoListing where Item == ConsumerInfo {
    static let consumers = InfoListing(
        "list_consumers", defaults: ["queue_name", "channel_pid", "consumer_tag", "ack_required", "prefetch_count", "active", "arguments"], [
            ("queue_name", { .string($0.queue.name) }),
            // rabbitmqctl shows the channel's process id; Berth's channel is its name.
            ("channel_pid", { .string($0.channel_details.name) }),
            ("consumer_tag", { .string($0.consumer_tag) }),
            ("ack_required", { .bool($0.ack_required) }),
            ("prefetch_count", { .int(Int64($0.prefetch_count)) }),
            ("active", { .bool($0.active) }),
            ("activity_status", { .string($0.activity_status) }),
            ("exclusive", { .bool($0.exclusive) }),
            ("arguments", { .object($0.arguments) }),
        ])
}

extension InfoListing where Item == ClusterNodeInfo {
    static let clusterMembers = InfoListing("cluster_status", defaults: ["name", "running", "role"], [
        ("name", { .string($0.name) }),
        ("running", { .bool($0.running) }),
        ("role", { .string($0.berth_role) }),
    ])
}

struct ListQueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_queues", abstract: "List a vhost's queues, as rabbitmqctl list_queues.", discussion: InfoListing.queues.discussion)
    @OptionGroup var vhost: VHostOption
    @OptionGroup var listing: ListingOptions
    @OptionGroup var management: ManagementOptions

    func validate() throws { try listing.check(InfoListing.queues) }

    func run() async throws {
        try listing.print(try await management.read([QueueInfo].self, "/api/queues/\(pathSegment(vhost.vhost))"), InfoListing.queues)
    }
}

struct ListExchangesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_exchanges", abstract: "List a vhost's exchanges, as rabbitmqctl list_exchanges.",
        discussion: InfoListing.exchanges.discussion)
    @OptionGroup var vhost: VHostOption
    @OptionGroup var listing: ListingOptions
    @OptionGroup var management: ManagementOptions

    func validate() throws { try listing.check(InfoListing.exchanges) }

    func run() async throws {
        try listing.print(try await management.read([ExchangeInfo].self, "/api/exchanges/\(pathSegment(vhost.vhost))"), InfoListing.exchanges)
    }
}

struct ListBindingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_bindings", abstract: "List a vhost's bindings, as rabbitmqctl list_bindings.",
        discussion: InfoListing.bindings.discussion)
    @OptionGroup var vhost: VHostOption
    @OptionGroup var listing: ListingOptions
    @OptionGroup var management: ManagementOptions

    func validate() throws { try listing.check(InfoListing.bindings) }

    func run() async throws {
        try listing.print(try await management.read([BindingInfo].self, "/api/bindings/\(pathSegment(vhost.vhost))"), InfoListing.bindings)
    }
}

struct ListConnectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_connections", abstract: "List the cluster's client connections, as rabbitmqctl list_connections.",
        discussion: InfoListing.connections.discussion)
    @OptionGroup var listing: ListingOptions
    @OptionGroup var management: ManagementOptions

    func validate() throws { try listing.check(InfoListing.connections) }

    func run() async throws {
        try listing.print(try await management.read([ConnectionInfo].self, "/api/connections"), InfoListing.connections)
    }
}

struct ListChannelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_channels", abstract: "List the channels of the cluster's client connections, as rabbitmqctl list_channels.",
        discussion: InfoListing.channels.discussion)
    @OptionGroup var listing: ListingOptions
    @OptionGroup var management: ManagementOptions

    func validate() throws { try listing.check(InfoListing.channels) }

    func run() async throws {
        try listing.print(try await management.read([ChannelInfo].self, "/api/channels"), InfoListing.channels)
    }
}

struct ListConsumersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_consumers", abstract: "List a vhost's consumers, as rabbitmqctl list_consumers.",
        discussion: InfoListing.consumers.discussion)
    @OptionGroup var vhost: VHostOption
    @OptionGroup var listing: ListingOptions
    @OptionGroup var management: ManagementOptions

    func validate() throws { try listing.check(InfoListing.consumers) }

    func run() async throws {
        try listing.print(try await management.read([ConsumerInfo].self, "/api/consumers/\(pathSegment(vhost.vhost))"), InfoListing.consumers)
    }
}

struct CloseConnectionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "close_connection", abstract: "Close a client connection with 320 CONNECTION_FORCED, as rabbitmqctl close_connection.",
        discussion: "The connection is named as list_connections name shows it: \"PEER_HOST:PEER_PORT -> HOST:PORT\".")
    @Argument(help: "The connection's name.") var name: String
    @Argument(help: "The reason the client is given.") var explanation: String
    @OptionGroup var management: ManagementOptions

    func run() async throws {
        try await management.change(.DELETE, "/api/connections/\(pathSegment(name))", headers: [("X-Reason", explanation)])
        print("Closed connection '\(name)'")
    }
}

struct ListPermissionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_permissions", abstract: "List the users' permissions on a vhost, as rabbitmqctl list_permissions.",
        discussion: InfoListing.permissions.discussion)
    @OptionGroup var vhost: VHostOption
    @OptionGroup var listing: ListingOptions
    @OptionGroup var management: ManagementOptions

    func validate() throws { try listing.check(InfoListing.permissions) }

    func run() async throws {
        let permissions = try await management.read([PermissionInfo].self, "/api/vhosts/\(pathSegment(vhost.vhost))/permissions")
        try listing.print(permissions, InfoListing.permissions)
    }
}

struct ListUsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_users", abstract: "List the users and their tags (berth users list).", discussion: InfoListing.users.discussion)
    @OptionGroup var listing: UserListing
    func run() async throws { try await listing.run() }
}

struct ListVHostsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_vhosts", abstract: "List the vhosts (berth vhosts list).", discussion: InfoListing.vhosts.discussion)
    @OptionGroup var listing: VHostListing
    func run() async throws { try await listing.run() }
}

struct AddUserCommand: AsyncParsableCommand {
    static let configuration = UserAddition.configuration(named: "add_user")
    @OptionGroup var addition: UserAddition
    func run() async throws { try await addition.run() }
}

struct DeleteUserCommand: AsyncParsableCommand {
    static let configuration = UserDeletion.configuration(named: "delete_user")
    @OptionGroup var deletion: UserDeletion
    func run() async throws { try await deletion.run() }
}

struct AddVHostCommand: AsyncParsableCommand {
    static let configuration = VHostAddition.configuration(named: "add_vhost")
    @OptionGroup var addition: VHostAddition
    func run() async throws { try await addition.run() }
}

struct DeleteVHostCommand: AsyncParsableCommand {
    static let configuration = VHostDeletion.configuration(named: "delete_vhost")
    @OptionGroup var deletion: VHostDeletion
    func run() async throws { try await deletion.run() }
}

/// rabbitmqctl's argument order: the user, then the three patterns (berth permissions set).
struct SetPermissionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set_permissions",
        abstract: "Set a user's permissions on a vhost: three regular expressions over resource names, as rabbitmqctl set_permissions.")
    @OptionGroup var vhost: VHostOption
    @Argument(help: "The user.") var user: String
    @Argument(help: "Names the user may declare and delete.") var configure: String
    @Argument(help: "Names the user may publish to and bind to.") var write: String
    @Argument(help: "Names the user may consume, get, purge and bind from.") var read: String
    @OptionGroup var management: ManagementOptions

    func run() async throws {
        try await management.setPermissions(vhost: vhost.vhost, user: user, PermissionChange(configure: configure, write: write, read: read))
    }
}

struct ExportDefinitionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export_definitions",
        abstract: "Write the cluster's definitions (users, vhosts, permissions, queues, exchanges, bindings) as RabbitMQ's JSON.")
    @Argument(help: "The file to write (replaced whole), or - for standard output.") var file: String
    @OptionGroup var management: ManagementOptions

    func run() async throws {
        // The node's bytes as they are: nothing it exports is lost to a decoding here.
        let definitions = Data(try await management.read("/api/definitions"))
        if file == "-" {
            print(String(decoding: definitions, as: UTF8.self))
            return
        }
        do {
            try definitions.write(to: URL(filePath: file), options: .atomic)
        } catch {
            throw ValidationError("cannot write \(file): \(error)")
        }
    }
}

struct ImportDefinitionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import_definitions", abstract: "Make what a definitions file (RabbitMQ's JSON, as export_definitions writes it) defines.")
    @Argument(help: "The definitions file.") var file: String
    @OptionGroup var management: ManagementOptions

    func run() async throws {
        let definitions: Data
        do {
            definitions = try Data(contentsOf: URL(filePath: file))
        } catch {
            throw ValidationError("cannot read \(file): \(error)")
        }
        try await management.change(.POST, "/api/definitions", body: Array(definitions))
    }
}

struct PurgeQueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "purge_queue", abstract: "Remove every ready message from a queue.")
    @Argument(help: "The queue.") var name: String
    @OptionGroup var vhost: VHostOption
    @OptionGroup var management: ManagementOptions

    func run() async throws {
        try await management.change(.DELETE, "/api/queues/\(pathSegment(vhost.vhost))/\(pathSegment(name))/contents")
        print("Purged queue '\(name)' in vhost '\(vhost.vhost)'")
    }
}

struct DeleteQueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete_queue", abstract: "Delete a queue with its messages.",
        discussion: "With --if-empty or --if-unused the queue stays, and the command fails, if it holds messages or has consumers.")
    @Argument(help: "The queue.") var name: String
    @OptionGroup var vhost: VHostOption
    @Flag(help: "Only if the queue holds no message.") var ifEmpty = false
    @Flag(help: "Only if the queue has no consumer.") var ifUnused = false
    @OptionGroup var management: ManagementOptions

    func run() async throws {
        let conditions = [("if-empty", ifEmpty), ("if-unused", ifUnused)].filter(\.1).map { "\($0.0)=true" }
        let query = conditions.isEmpty ? "" : "?" + conditions.joined(separator: "&")
        try await management.change(.DELETE, "/api/queues/\(pathSegment(vhost.vhost))/\(pathSegment(name))" + query)
        print("Deleted queue '\(name)' in vhost '\(vhost.vhost)'")
    }
}

/// The members from `/api/nodes`, and the Raft term and leader from `/api/berth/node`, both as
/// the first node that answers sees them.
struct ClusterStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster_status", abstract: "Show the cluster's members (running, Raft role), its leader and its Raft term.")
    @Option(help: "table (a summary line, then the members) or json (an object).") var format: ListingFormat = .table
    @OptionGroup var management: ManagementOptions

    func run() async throws {
        let members = try await management.read([ClusterNodeInfo].self, "/api/nodes")
        let node = try await management.read(NodeStatus.self, "/api/berth/node")
        let leader = members.first { $0.berth_role == "leader" }?.name
        let listing = InfoListing.clusterMembers
        switch format {
        case .table:
            print("Leader: \(leader ?? "none"), term \(node.term)")
            print(try listing.render(members, columns: [], as: .table), terminator: "")
        case .json:
            let leaderJSON = InfoListing<ClusterNodeInfo>.json(leader.map(JSONValue.string) ?? .null)
            print("{\"leader\":\(leaderJSON),\"term\":\(node.term),\"members\":\(try listing.render(members, columns: [], as: .json))}")
        }
    }
}
