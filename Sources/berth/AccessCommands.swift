import ArgumentParser
import FoundationEssentials
import Glibc
import NIOHTTP1
import NIOPosix
import Node
import StatusAPI

/// `berth users`, `berth vhosts`, `berth permissions`: RabbitMQ's management routes for them,
/// on the first node given that answers (a follower passes a change to the leader).
struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "List, add or delete broker users (replicated; any node).",
        subcommands: [List.self, Add.self, Delete.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the users and their tags.", discussion: InfoListing.users.discussion)
        @OptionGroup var listing: UserListing
        func run() async throws { try await listing.run() }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = UserAddition.configuration(named: "add")
        @OptionGroup var addition: UserAddition
        func run() async throws { try await addition.run() }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = UserDeletion.configuration(named: "delete")
        @OptionGroup var deletion: UserDeletion
        func run() async throws { try await deletion.run() }
    }
}

/// `berth users list` and `berth list_users`.
struct UserListing: ParsableArguments {
    @OptionGroup var listing: ListingOptions
    @OptionGroup var management: ManagementOptions

    func validate() throws { try listing.check(InfoListing.users) }

    func run() async throws {
        try listing.print(try await management.read([UserInfo].self, "/api/users"), InfoListing.users)
    }
}

/// `berth users add` and `berth add_user`.
struct UserAddition: ParsableArguments {
    static func configuration(named name: String) -> CommandConfiguration {
        CommandConfiguration(
            commandName: name, abstract: "Add a user, or set an existing user's password and tags.",
            discussion: "The password is read from --new-password-file (its owner's alone) or prompted for; never given on the command line.")
    }

    @Argument(help: "The user's name.") var name: String
    @Option(help: "A file holding the new user's password, its owner's alone.") var newPasswordFile: String?
    @Option(help: "Comma-separated tags: administrator, monitoring, policymaker, management (none: AMQP only).") var tags = ""
    @OptionGroup var management: ManagementOptions

    func run() async throws {
        let password: String
        if let newPasswordFile {
            do { password = String(decoding: try SecretFile.read(newPasswordFile), as: UTF8.self) } catch { throw ValidationError("\(error)") }
        } else {
            guard isatty(0) == 1, let typed = getpass("password for \(name): ") else {
                throw ValidationError("--new-password-file is needed when there is no terminal to prompt on")
            }
            password = String(cString: typed)
        }
        let body = try JSONEncoder().encode(UserChange(password: password, tags: tags.split(separator: ",").map(String.init)))
        try await management.change(.PUT, "/api/users/\(pathSegment(name))", body: Array(body))
    }
}

/// `berth users delete` and `berth delete_user`.
struct UserDeletion: ParsableArguments {
    static func configuration(named name: String) -> CommandConfiguration {
        CommandConfiguration(commandName: name, abstract: "Delete a user and its permissions.")
    }

    @Argument(help: "The user's name.") var name: String
    @OptionGroup var management: ManagementOptions

    func run() async throws {
        try await management.change(.DELETE, "/api/users/\(pathSegment(name))")
    }
}

struct VHostsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vhosts", abstract: "List, add or delete virtual hosts (replicated; any node).",
        subcommands: [List.self, Add.self, Delete.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the vhosts.", discussion: InfoListing.vhosts.discussion)
        @OptionGroup var listing: VHostListing
        func run() async throws { try await listing.run() }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = VHostAddition.configuration(named: "add")
        @OptionGroup var addition: VHostAddition
        func run() async throws { try await addition.run() }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = VHostDeletion.configuration(named: "delete")
        @OptionGroup var deletion: VHostDeletion
        func run() async throws { try await deletion.run() }
    }
}

/// `berth vhosts list` and `berth list_vhosts`.
struct VHostListing: ParsableArguments {
    @OptionGroup var listing: ListingOptions
    @OptionGroup var management: ManagementOptions

    func validate() throws { try listing.check(InfoListing.vhosts) }

    func run() async throws {
        try listing.print(try await management.read([VHostInfo].self, "/api/vhosts"), InfoListing.vhosts)
    }
}

/// `berth vhosts add` and `berth add_vhost`.
struct VHostAddition: ParsableArguments {
    static func configuration(named name: String) -> CommandConfiguration {
        CommandConfiguration(commandName: name, abstract: "Add a vhost (no user may use it until given a permission on it).")
    }

    @Argument(help: "The vhost's name.") var name: String
    @OptionGroup var management: ManagementOptions

    func run() async throws {
        try await management.change(.PUT, "/api/vhosts/\(pathSegment(name))")
    }
}

/// `berth vhosts delete` and `berth delete_vhost`.
struct VHostDeletion: ParsableArguments {
    static func configuration(named name: String) -> CommandConfiguration {
        CommandConfiguration(commandName: name, abstract: "Delete a vhost with everything in it.")
    }

    @Argument(help: "The vhost's name.") var name: String
    @OptionGroup var management: ManagementOptions

    func run() async throws {
        try await management.change(.DELETE, "/api/vhosts/\(pathSegment(name))")
    }
}

struct PermissionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "permissions", abstract: "List, set or clear users' permissions on vhosts (replicated; any node).",
        subcommands: [List.self, Set.self, Clear.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every user's permissions on every vhost.")
        @OptionGroup var management: ManagementOptions

        func run() async throws {
            let permissions = try await management.read([PermissionInfo].self, "/api/permissions")
            print(try InfoListing.permissions.render(permissions, columns: ["vhost"] + InfoListing.permissions.defaults, as: .table), terminator: "")
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a user's permissions on a vhost: three regular expressions over resource names, as RabbitMQ's set_permissions.")
        @Argument(help: "The vhost.") var vhost: String
        @Argument(help: "The user.") var user: String
        @Option(help: "Names the user may declare and delete.") var configure: String
        @Option(help: "Names the user may publish to and bind to.") var write: String
        @Option(help: "Names the user may consume, get, purge and bind from.") var read: String
        @OptionGroup var management: ManagementOptions

        func run() async throws {
            try await management.setPermissions(vhost: vhost, user: user, PermissionChange(configure: configure, write: write, read: read))
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Clear a user's permissions on a vhost.")
        @Argument(help: "The vhost.") var vhost: String
        @Argument(help: "The user.") var user: String
        @OptionGroup var management: ManagementOptions

        func run() async throws {
            try await management.change(.DELETE, "/api/permissions/\(pathSegment(vhost))/\(pathSegment(user))")
        }
    }
}

/// The node to ask and who asks.
struct ManagementOptions: ParsableArguments {
    @OptionGroup var api: StatusAPIOptions
    @OptionGroup var who: HTTPCredentialOptions

    /// A GET's JSON from the first node that answers it.
    func read<Value: Decodable>(_ type: Value.Type, _ path: String) async throws -> Value {
        let body = try await read(path)
        do {
            return try JSONDecoder().decode(type, from: Data(body))
        } catch {
            throw ValidationError("\(path): an answer that does not decode: \(error)")
        }
    }

    /// A GET's body, as the first node that answers it gives it.
    func read(_ path: String) async throws -> [UInt8] {
        let reply = try await ask(.GET, path, body: [])
        guard reply.status == 200 else { throw failure(reply, path) }
        return reply.body
    }

    /// A change, through the first node that answers; fails unless it succeeded.
    func change(_ method: HTTPMethod, _ path: String, body: [UInt8] = [], headers: [(String, String)] = []) async throws {
        let reply = try await ask(method, path, body: body, headers: headers)
        guard (200..<300).contains(reply.status) else { throw failure(reply, path) }
    }

    /// `berth permissions set` and `berth set_permissions`.
    func setPermissions(vhost: String, user: String, _ permissions: PermissionChange) async throws {
        try await change(.PUT, "/api/permissions/\(pathSegment(vhost))/\(pathSegment(user))", body: Array(try JSONEncoder().encode(permissions)))
    }

    private func ask(_ method: HTTPMethod, _ path: String, body: [UInt8], headers: [(String, String)] = []) async throws -> HTTPReply {
        let credentials = try who.credentials()
        let group = MultiThreadedEventLoopGroup.singleton
        var reasons: [String] = []
        for endpoint in try api.endpoints() {
            let client = StatusClient(host: endpoint.host, port: endpoint.port, timeout: .milliseconds(Int64(api.timeout * 1000)),
                                      credentials: credentials, on: group)
            do {
                return try await client.send(method, path, headers: [("Content-Type", "application/json")] + headers, body: body)
            } catch {
                reasons.append("\(endpoint.host):\(endpoint.port): \(error)")
            }
        }
        throw ValidationError("no node answered: " + reasons.joined(separator: "; "))
    }

    private func failure(_ reply: HTTPReply, _ path: String) -> ExitCode {
        let reason = (try? JSONDecoder().decode(ManagementError.self, from: Data(reply.body))).map { "\($0.error): \($0.reason)" }
        printError("berth: \(path): HTTP \(reply.status)" + (reason.map { ", \($0)" } ?? ""))
        return ExitCode.failure
    }
}
