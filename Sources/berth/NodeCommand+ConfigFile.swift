import Glibc
import Log
import Logging

/// `berth node --config FILE`: the file's keys, each standing for a flag of `berth node`.
///
/// The file becomes the arguments its flags would be, placed before the user's own, and
/// ArgumentParser parses the lot: it keeps the last value of a single-valued option (and
/// the last of `--peer-tls`/`--no-peer-tls`), so a flag given overrides the file, and every
/// check in `validate()` applies to both alike. A repeatable option collects every value
/// instead, so the file's entries for one are dropped when the user gives it.
extension NodeCommand {
    /// A key of the configuration file and the flag it stands for.
    struct ConfigKey: Sendable {
        /// RabbitMQ's key where RabbitMQ has the setting, else `berth.` and the flag's words.
        var name: String
        var flag: String
        var value: ConfigValue
        /// Many keys, `NAME.anything` (`berth.peer.1`, `berth.peer.2`, ...), each one value
        /// of a repeatable flag, in the file's order.
        var isList = false
    }

    /// The values a key takes, checked as the file is read, so that the error names the
    /// line and key; a flag's own limits (`--election-timeout-ms` 20...60000, ...) are
    /// checked by `validate()`, naming the flag.
    enum ConfigValue: Sendable {
        /// A path or a host, as given.
        case text
        case integer(ClosedRange<UInt64>)
        /// As `parseSize` reads one (2GiB, 512MB, or bytes).
        case size
        /// Of the machine's memory, in (0, 1].
        case fraction
        /// HOST:PORT.
        case hostPort
        /// ID=HOST:PORT, as `--peer` takes it.
        case peer
        /// PORT, or HOST:PORT also setting `hostFlag`, as RabbitMQ's `listeners.tcp`.
        case listener(hostFlag: String)
        /// One of these words, each standing for these arguments (none: the default).
        case words([String: [String]])

        static func boolean(whenTrue: [String], whenFalse: [String] = []) -> ConfigValue {
            .words(["true": whenTrue, "false": whenFalse])
        }
    }

    /// Every option and flag of `berth node` has one row here (`--config` aside); adding a
    /// flag means adding its row.
    static let configKeys: [ConfigKey] = [
        ConfigKey(name: "berth.data_dir", flag: "--data-dir", value: .text),
        ConfigKey(name: "listeners.tcp.default", flag: "--amqp-port", value: .listener(hostFlag: "--amqp-host")),
        ConfigKey(name: "management.tcp.ip", flag: "--http-host", value: .text),
        ConfigKey(name: "management.tcp.port", flag: "--http-port", value: .integer(0...65535)),
        ConfigKey(name: "berth.users_file", flag: "--users-file", value: .text),
        ConfigKey(name: "heartbeat", flag: "--heartbeat", value: .integer(0...UInt64(UInt16.max))),
        ConfigKey(name: "consumer_timeout", flag: "--consumer-timeout-ms", value: .integer(0...UInt64(Int64.max))),
        ConfigKey(
            name: "consumer_timeout_response", flag: "--consumer-timeout-closes-channel",
            value: .words(["cancel_consumer": [], "close_channel": ["--consumer-timeout-closes-channel"]])),
        ConfigKey(name: "berth.election_timeout_ms", flag: "--election-timeout-ms", value: .integer(0...UInt64(Int.max))),
        ConfigKey(name: "max_message_size", flag: "--max-message-size", value: .size),
        ConfigKey(name: "connection_max", flag: "--max-connections", value: .integer(0...UInt64(Int.max))),
        ConfigKey(name: "berth.max_in_flight", flag: "--max-in-flight", value: .integer(0...UInt64(Int.max))),
        ConfigKey(name: "berth.node_id", flag: "--node-id", value: .integer(1...UInt64.max)),
        ConfigKey(name: "berth.peer", flag: "--peer", value: .peer, isList: true),
        ConfigKey(name: "berth.cluster_secret_file", flag: "--cluster-secret-file", value: .text),
        ConfigKey(name: "berth.peer_tls", flag: "--peer-tls", value: .boolean(whenTrue: ["--peer-tls"], whenFalse: ["--no-peer-tls"])),
        ConfigKey(name: "berth.join", flag: "--join", value: .hostPort, isList: true),
        ConfigKey(name: "berth.peer_address", flag: "--peer-address", value: .hostPort),
        ConfigKey(name: "vm_memory_high_watermark.relative", flag: "--memory-high-watermark", value: .fraction),
        ConfigKey(name: "vm_memory_high_watermark.absolute", flag: "--memory-high-watermark", value: .size),
        ConfigKey(name: "disk_free_limit.absolute", flag: "--disk-free-limit", value: .size),
        ConfigKey(name: "berth.snapshot_every_entries", flag: "--snapshot-every-entries", value: .integer(0...UInt64(Int.max))),
        ConfigKey(name: "berth.snapshot_every_bytes", flag: "--snapshot-every-bytes", value: .size),
        ConfigKey(name: "berth.snapshot_retained_entries", flag: "--snapshot-retained-entries", value: .integer(0...UInt64(Int.max))),
        ConfigKey(name: "berth.lagging_follower_log", flag: "--lagging-follower-log", value: .size),
        // Berth's TLS listener listens on the AMQP listener's host, so a port alone.
        ConfigKey(name: "listeners.ssl.default", flag: "--tls-port", value: .integer(0...65535)),
        ConfigKey(name: "ssl_options.certfile", flag: "--tls-certificate", value: .text),
        ConfigKey(name: "ssl_options.keyfile", flag: "--tls-key", value: .text),
        ConfigKey(name: "ssl_options.cacertfile", flag: "--tls-ca", value: .text),
        ConfigKey(name: "ssl_options.verify", flag: "--tls-verify-peer", value: .words(["verify_peer": ["--tls-verify-peer"], "verify_none": []])),
        ConfigKey(name: "ssl_options.fail_if_no_peer_cert", flag: "--tls-fail-if-no-peer-cert", value: .boolean(whenTrue: ["--tls-fail-if-no-peer-cert"])),
        ConfigKey(name: "management.ssl.port", flag: "--https-port", value: .integer(0...65535)),
        ConfigKey(name: "prometheus.tcp.port", flag: "--prometheus-port", value: .integer(0...65535)),
        ConfigKey(
            name: "log.console.level", flag: "--log-level",
            value: .words(Dictionary(uniqueKeysWithValues: Logger.Level.allCases.map { ($0.rawValue, ["--log-level", $0.rawValue]) }))),
        ConfigKey(name: "log.console.formatter", flag: "--log-format", value: .words(["plaintext": ["--log-format", "text"], "json": ["--log-format", "json"]])),
        ConfigKey(name: "berth.leave_on_shutdown", flag: "--leave-on-shutdown", value: .boolean(whenTrue: ["--leave-on-shutdown"])),
    ]

    /// The row of `key`: its own, or the list's whose `NAME.` it starts with.
    static func configKey(named key: String) -> ConfigKey? {
        configKeys.first { row in
            row.isList ? key.hasPrefix(row.name + ".") && key.count > row.name.count + 1 : key == row.name
        }
    }

    /// The arguments `file` stands for, to be placed before `userArguments`: without the
    /// file's entries of a repeatable flag that `userArguments` gives, so that the user's
    /// list replaces the file's.
    static func arguments(from file: NodeConfigFile, before userArguments: [String]) throws(NodeConfigFileError) -> [String] {
        func userGives(_ flag: String) -> Bool { userArguments.contains { $0 == flag || $0.hasPrefix(flag + "=") } }
        var result: [String] = []
        var lineOfFlag: [String: Int] = [:]
        for entry in file.entries {
            func failure(_ problem: String) -> NodeConfigFileError {
                NodeConfigFileError(path: file.path, line: entry.line, key: entry.key, problem: problem)
            }
            guard let row = configKey(named: entry.key) else { throw failure("unknown key") }
            // Two keys of one setting (vm_memory_high_watermark.relative and .absolute).
            if !row.isList, let earlier = lineOfFlag[row.flag] {
                throw failure("sets \(row.flag) as line \(earlier) does; give one of them")
            }
            lineOfFlag[row.flag] = entry.line
            guard let arguments = row.value.arguments(for: entry.value, flag: row.flag) else {
                throw failure("takes \(row.value.expected), got '\(entry.value)'")
            }
            if row.isList, userGives(row.flag) { continue }
            result += arguments
        }
        return result
    }

    /// `arguments` (those after `node`) with the arguments of the file `--config` names in
    /// front of them; unchanged without `--config`.
    static func applyingConfigFile(to arguments: [String]) throws(NodeConfigFileError) -> [String] {
        guard let path = configPath(in: arguments) else { return arguments }
        let bytes: [UInt8]
        do {
            bytes = try FileHandle(path: path, flags: O_RDONLY).read(count: NodeConfigFile.textBytesMax + 1, at: 0)
        } catch {
            throw NodeConfigFileError(path: path, problem: "unreadable: \(error)")
        }
        guard bytes.count <= NodeConfigFile.textBytesMax else {
            throw NodeConfigFileError(path: path, problem: "larger than \(NodeConfigFile.textBytesMax >> 20)MiB")
        }
        let file = try NodeConfigFile(path: path, text: String(decoding: bytes, as: UTF8.self))
        return try Self.arguments(from: file, before: arguments) + arguments
    }

    /// The value of the last `--config`, as the last of any other option counts.
    static func configPath(in arguments: [String]) -> String? {
        var path: String?
        for (index, argument) in arguments.enumerated() {
            if argument == "--config", index + 1 < arguments.count {
                path = arguments[index + 1]
            } else if argument.hasPrefix("--config=") {
                path = String(argument.dropFirst("--config=".count))
            }
        }
        return path
    }
}

extension NodeCommand.ConfigValue {
    /// For errors: what the key takes.
    var expected: String {
        switch self {
        case .text: "a path or a host"
        case .integer(let range): "an integer in \(range.lowerBound)...\(range.upperBound)"
        case .size: "a size such as 2GiB, 512MB or 1048576"
        case .fraction: "a fraction in (0, 1], such as 0.4"
        case .hostPort: "HOST:PORT"
        case .peer: "ID=HOST:PORT"
        case .listener: "PORT or HOST:PORT"
        case .words(let arguments): arguments.keys.sorted().joined(separator: ", ")
        }
    }

    /// The arguments `value` stands for, or nil if this key does not take it.
    func arguments(for value: String, flag: String) -> [String]? {
        switch self {
        case .text:
            return [flag, value]
        case .integer(let range):
            guard let number = UInt64(value), range.contains(number) else { return nil }
            return [flag, value]
        case .size:
            // In bytes, with a unit: --memory-high-watermark reads a bare number as a fraction.
            return NodeCommand.parseSize(value).map { [flag, "\($0)B"] }
        case .fraction:
            guard !value.contains(where: \.isLetter), let fraction = Double(value), fraction > 0, fraction <= 1 else { return nil }
            return [flag, value]
        case .hostPort:
            return (try? NodeCommand.parseHostPort(value, flag: flag)) == nil ? nil : [flag, value]
        case .peer:
            return (try? NodeCommand.parsePeer(value)) == nil ? nil : [flag, value]
        case .listener(let hostFlag):
            guard let colon = value.lastIndex(of: ":") else {
                return Self.integer(0...65535).arguments(for: value, flag: flag)
            }
            // [::1]:5672 as well as 127.0.0.1:5672.
            var host = value[..<colon]
            if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
            guard !host.isEmpty, let port = Self.integer(0...65535).arguments(for: String(value[value.index(after: colon)...]), flag: flag)
            else { return nil }
            return [hostFlag, String(host)] + port
        case .words(let arguments):
            return arguments[value]
        }
    }
}
