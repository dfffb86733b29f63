import ArgumentParser
import Auth
import Glibc
import NIOPosix
import Node
import StatusAPI

/// Which nodes to ask, by the address of their HTTP status API.
struct StatusAPIOptions: ParsableArguments {
    @Option(name: .customLong("http"), help: "A node's HTTP status address as HOST:PORT (repeatable; the default is the local cluster).")
    var addresses: [String] = ["127.0.0.1:15672", "127.0.0.1:15673", "127.0.0.1:15674"]

    @Option(help: "Seconds to wait for each node's answer (more than 0, at most 60).")
    var timeout: Double = 2

    func validate() throws {
        guard timeout > 0, timeout <= 60 else { throw ValidationError("--timeout must be more than 0 and at most 60") }
        _ = try endpoints()
    }

    func endpoints() throws -> [(host: String, port: Int)] {
        try addresses.map { try parseHostPort($0, option: "--http") }
    }

    /// Asks every node at once, so one that does not answer delays the others by nothing;
    /// the answers come back in the order the nodes were given.
    func askEach<Answer: Sendable>(
        credentials: HTTPCredentials?, _ question: @escaping @Sendable (StatusClient) async throws -> Answer
    ) async throws -> [Result<Answer, any Error>] {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let clients = try endpoints().map {
            StatusClient(host: $0.host, port: $0.port, timeout: .milliseconds(Int64(timeout * 1000)), credentials: credentials, on: group)
        }
        let answers = await withTaskGroup(of: (Int, Result<Answer, any Error>).self) { tasks in
            for (position, client) in clients.enumerated() {
                tasks.addTask {
                    do { return (position, .success(try await question(client))) } catch { return (position, .failure(error)) }
                }
            }
            var answers = [Result<Answer, any Error>?](repeating: nil, count: clients.count)
            for await (position, answer) in tasks { answers[position] = answer }
            return answers.map { $0! }
        }
        try await group.shutdownGracefully()
        return answers
    }
}

/// Who asks: a broker user with a management tag (administrator for changes), its password
/// read from a file (never given on the command line, where `ps` shows it).
struct HTTPCredentialOptions: ParsableArguments {
    @Option(help: "The broker user to ask as (guest may ask only through loopback).")
    var user = AccessControl.guestName

    @Option(help: "A file holding the user's password, its owner's alone (not needed for guest, whose password is guest).")
    var passwordFile: String?

    func credentials() throws -> HTTPCredentials {
        guard let passwordFile else {
            guard user == AccessControl.guestName else { throw ValidationError("--password-file is needed for user \(user)") }
            return .guest
        }
        do {
            return HTTPCredentials(user: user, password: String(decoding: try SecretFile.read(passwordFile), as: UTF8.self))
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// `berth nodes` (or `berth status`): each node's Raft state, from its HTTP status API.
struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "Show each node's Raft role, term, leader, log indexes and lag, from its HTTP status API.",
        discussion: """
            Lag is how many entries the leader's log holds beyond what it knows a node has; \
            only the leader tracks it, so it is shown when the leader answers. A node that does \
            not answer is shown as down, with the reason below the table. Exits non-zero if no \
            node answers (or, with --require-leader, if none answers as a leader serving clients).
            """,
        aliases: ["status"]
    )

    @OptionGroup var api: StatusAPIOptions
    @OptionGroup var who: HTTPCredentialOptions

    @Flag(name: .customLong("require-leader"), help: "Exit non-zero unless a node answers as the leader and serves clients.")
    var requireLeader = false

    func run() async throws {
        let addresses = api.addresses
        let answers = try await api.askEach(credentials: try who.credentials()) { try await $0.node() }
        let statuses = answers.compactMap { try? $0.get() }
        // A deposed leader that has not heard of its successor still says "leader": the later term wins.
        let leader = statuses.filter { $0.role == .leader }.max { $0.term < $1.term }
        // Gossip's word on each node, as the leader (or else the first node to answer) hears it.
        let gossip = (leader ?? statuses.first)?.members ?? []
        var rows: [[String]] = []
        var failures: [String] = []
        for (address, answer) in zip(addresses, answers) {
            switch answer {
            case .success(let node):
                let lag = node.id == leader?.id ? "0" : leader?.peers?.first { $0.id == node.id }.map { String($0.lag) }
                let role = node.role == .leader && !node.serving ? "leader (not serving yet)" : node.role.rawValue
                rows.append([
                    String(node.id), address, gossip.first { $0.id == node.id }?.status ?? "-", role, String(node.term),
                    node.leader.map(String.init) ?? "-", String(node.commitIndex), String(node.appliedIndex), lag ?? "-",
                ])
            case .failure(let error):
                // Gossip may still know who listens there, and what became of it.
                let member = gossip.first { $0.http == address }
                rows.append([member.map { String($0.id) } ?? "-", address, member?.status ?? "-", "down", "-", "-", "-", "-", "-"])
                failures.append("\(address): \(error)")
            }
        }
        // Members gossip knows that were not asked (joined later, or not listed) get a line too.
        for member in gossip where !statuses.contains(where: { $0.id == member.id }) && !addresses.contains(member.http) {
            rows.append([String(member.id), member.http, member.status, "(not asked)", "-", "-", "-", "-", "-"])
        }
        print(formatTable(["node", "address", "gossip", "role", "term", "leader", "commit", "applied", "lag"], rows), terminator: "")
        for failure in failures { printError("berth: no answer from \(failure)") }
        if statuses.isEmpty {
            printError("berth: no node answered")
            throw ExitCode.failure
        }
        if requireLeader, leader?.serving != true {
            printError("berth: no node answered as a leader serving clients")
            throw ExitCode.failure
        }
    }
}

/// `berth queues`: every queue with the leader's delivery counts.
struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues",
        abstract: "List the queues with their ready, unacknowledged and total messages and their consumers.",
        discussion: """
            Asks every given node and shows the leader's answer, or a follower's (a follower \
            asks the leader for what only the leader knows: which messages are out at \
            consumers). If no leader can be reached, it shows a follower's totals, with '-' for \
            what only the leader knows, and exits non-zero.
            """
    )

    @OptionGroup var api: StatusAPIOptions
    @OptionGroup var who: HTTPCredentialOptions

    func run() async throws {
        let answers = try await api.askEach(credentials: try who.credentials()) { try await $0.queues() }
        for (address, answer) in zip(api.addresses, answers) {
            if case .failure(let error) = answer { printError("berth: no answer from \(address): \(error)") }
        }
        let statuses = answers.compactMap { try? $0.get() }
        let counted = { (status: QueuesStatus) in status.queues.allSatisfy { $0.ready != nil } }
        guard let answer = statuses.first(where: { $0.leader == $0.node }) ?? statuses.first(where: counted) ?? statuses.first else {
            printError("berth: no node answered")
            throw ExitCode.failure
        }
        let rows = answer.queues.map { queue in
            [queue.name, queue.vhost, queue.ready.map(String.init) ?? "-", queue.unacked.map(String.init) ?? "-", String(queue.messages),
             queue.consumers.map(String.init) ?? "-"]
        }
        print(formatTable(["name", "vhost", "ready", "unacked", "total", "consumers"], rows), terminator: "")
        if !counted(answer) {
            let known = answer.leader.map { "node \(answer.node) names node \($0) as leader" } ?? "node \(answer.node) knows no leader"
            printError("berth: no leader among the nodes that answered (\(known)); ready, unacked and consumers are the leader's to tell")
            throw ExitCode.failure
        }
    }
}

/// Columns left-aligned and padded to their widest cell, two spaces apart; one line per row.
func formatTable(_ header: [String], _ rows: [[String]]) -> String {
    let lines = [header] + rows
    let widths = header.indices.map { column in lines.map { $0[column].count }.max() ?? 0 }
    return lines.map { cells in
        zip(cells, widths).enumerated().map { column, cell in
            column == cells.count - 1 ? cell.0 : cell.0 + String(repeating: " ", count: cell.1 - cell.0.count + 2)
        }.joined() + "\n"
    }.joined()
}

/// HOST:PORT, as the command line options take addresses.
func parseHostPort(_ text: String, option: String) throws -> (host: String, port: Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
        throw ValidationError("\(option) takes HOST:PORT, got '\(text)'")
    }
    return (String(text[..<colon]), port)
}

/// A line on standard error, for what goes wrong while the table goes to standard output.
func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// `berth leave`: the node leaves the cluster gracefully and stops.
struct LeaveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leave",
        abstract: "Make a node leave the cluster gracefully, then stop: the leader removes it from the voters.")

    @Option(name: .customLong("http"), help: "The leaving node's HTTP status address as HOST:PORT.")
    var address: String

    @OptionGroup var who: HTTPCredentialOptions

    func run() async throws {
        let endpoint = try parseHostPort(address, option: "--http")
        let credentials = try who.credentials()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let outcome: Result<ActionResult, any Error>
        do {
            outcome = .success(try await StatusClient(host: endpoint.host, port: endpoint.port, credentials: credentials, on: group).leave())
        } catch {
            outcome = .failure(error)
        }
        try await group.shutdownGracefully()
        let result = try outcome.get()
        print(result.message)
        if !result.done { throw ExitCode.failure }
    }
}

/// `berth remove NODE`: an operator takes a member, typically a dead one, out of the group.
struct RemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a member (typically a dead one) from the cluster's voters; asks each node given until the leader does it.",
        discussion: "A dead member stays a voter until it is removed: the quorum never shrinks on its own.")

    @Argument(help: "The id of the node to remove.")
    var node: UInt64

    @OptionGroup var api: StatusAPIOptions
    @OptionGroup var who: HTTPCredentialOptions

    func run() async throws {
        let answers = try await api.askEach(credentials: try who.credentials()) { [node] in try await $0.remove(node) }
        for (address, answer) in zip(api.addresses, answers) {
            if case .success(let reply) = answer, reply.result.done {
                print("\(address): \(reply.result.message)")
                return
            }
        }
        for (address, answer) in zip(api.addresses, answers) {
            switch answer {
            case .success(let reply): printError("berth: \(address): \(reply.result.message)")
            case .failure(let error): printError("berth: no answer from \(address): \(error)")
            }
        }
        throw ExitCode.failure
    }
}
