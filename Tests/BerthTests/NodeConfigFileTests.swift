import ArgumentParser
import Foundation
import Logging
import XCTest

@testable import berth

final class NodeConfigFileTests: XCTestCase {
    // MARK: The text

    func testCommentsBlankLinesAndWhitespaceAroundEqualsAreSkipped() throws {
        let text = """
            # A node of the test cluster.

              heartbeat=30
            berth.data_dir   =   /var/lib/berth # where it keeps its log\r
            \t
            berth.peer.1 = 1=127.0.0.1:4001#no space needed
                # indented comment
            ssl_options.keyfile = '/etc/berth/#1.key'   # quoted
            """
        let file = try NodeConfigFile(path: "node.conf", text: text)
        XCTAssertEqual(file.entries, [
            NodeConfigFile.Entry(key: "heartbeat", value: "30", line: 3),
            NodeConfigFile.Entry(key: "berth.data_dir", value: "/var/lib/berth", line: 4),
            NodeConfigFile.Entry(key: "berth.peer.1", value: "1=127.0.0.1:4001", line: 6),
            NodeConfigFile.Entry(key: "ssl_options.keyfile", value: "/etc/berth/#1.key", line: 8),
        ])
    }

    func testLineWithoutEqualsIsMalformed() {
        XCTAssertThrowsError(try NodeConfigFile(path: "node.conf", text: "heartbeat = 30\nheartbeat 60\n")) { error in
            XCTAssertEqual("\(error)", "node.conf:2: expected KEY = VALUE, got 'heartbeat 60'")
        }
    }

    func testLineWithoutKeyIsMalformed() {
        XCTAssertThrowsError(try NodeConfigFile(path: "node.conf", text: " = 30")) { error in
            XCTAssertEqual((error as? NodeConfigFileError)?.line, 1)
        }
        for text in ["max message size = 30", "log..level = info", ".heartbeat = 30", "heartbeat. = 30"] {
            XCTAssertThrowsError(try NodeConfigFile(path: "node.conf", text: text), text) { error in
                XCTAssertEqual((error as? NodeConfigFileError)?.line, 1, text)
                XCTAssertNil((error as? NodeConfigFileError)?.key, text)
            }
        }
    }

    func testKeyWithoutValueIsAnError() {
        XCTAssertThrowsError(try NodeConfigFile(path: "node.conf", text: "\nheartbeat =  ")) { error in
            XCTAssertEqual("\(error)", "node.conf:2: heartbeat: has no value")
        }
        XCTAssertThrowsError(try NodeConfigFile(path: "node.conf", text: "heartbeat = # sixty")) { error in
            XCTAssertEqual("\(error)", "node.conf:1: heartbeat: has no value")
        }
    }

    func testQuoteLeftOpenOrFollowedByTextIsAnError() {
        for text in ["ssl_options.keyfile = '/etc/berth/server.key", "ssl_options.keyfile = '/etc/berth/server.key' more"] {
            XCTAssertThrowsError(try NodeConfigFile(path: "node.conf", text: text), text) { error in
                XCTAssertEqual((error as? NodeConfigFileError)?.key, "ssl_options.keyfile", text)
            }
        }
    }

    func testKeyGivenTwiceNamesBothLines() {
        XCTAssertThrowsError(try NodeConfigFile(path: "node.conf", text: "heartbeat = 30\n# again\nheartbeat = 60")) { error in
            XCTAssertEqual("\(error)", "node.conf:3: heartbeat: given twice, on lines 1 and 3")
        }
    }

    // MARK: Keys and values

    func testUnknownKeyNamesFileLineAndKey() {
        XCTAssertThrowsError(try arguments("heartbeat = 30\nlisteners.tcp.defualt = 5672")) { error in
            XCTAssertEqual("\(error)", "node.conf:2: listeners.tcp.defualt: unknown key")
        }
        // A list's name alone is no key: its entries are NAME.something.
        XCTAssertThrowsError(try arguments("berth.peer = 1=127.0.0.1:4001")) { error in
            XCTAssertEqual("\(error)", "node.conf:1: berth.peer: unknown key")
        }
    }

    func testBadValueNamesFileLineAndKey() {
        let bad = [
            "listeners.tcp.default = 56x2", "listeners.tcp.default = 70000", "listeners.tcp.default = 127.0.0.1:",
            "listeners.tcp.default = :5672", "management.tcp.port = -1", "heartbeat = 65536", "heartbeat = 60s",
            "berth.node_id = 0", "max_message_size = lots", "disk_free_limit.absolute = 2TB",
            "vm_memory_high_watermark.relative = 1.5", "vm_memory_high_watermark.relative = 2GiB",
            "vm_memory_high_watermark.relative = 0", "berth.peer.1 = 127.0.0.1:4001", "berth.join.1 = nowhere",
            "berth.peer_address = 127.0.0.1", "ssl_options.verify = yes", "ssl_options.fail_if_no_peer_cert = 1",
            "berth.peer_tls = on", "consumer_timeout_response = cancel", "log.console.level = loud", "log.console.formatter = text",
        ]
        for line in bad {
            let key = String(line[..<line.firstIndex(of: " ")!])
            XCTAssertThrowsError(try arguments("# first\n" + line), line) { error in
                let error = error as? NodeConfigFileError
                XCTAssertEqual(error?.path, "node.conf", line)
                XCTAssertEqual(error?.line, 2, line)
                XCTAssertEqual(error?.key, key, line)
            }
        }
    }

    func testBadValueSaysWhatTheKeyTakes() {
        XCTAssertThrowsError(try arguments("ssl_options.verify = yes")) { error in
            XCTAssertEqual("\(error)", "node.conf:1: ssl_options.verify: takes verify_none, verify_peer, got 'yes'")
        }
    }

    func testTwoKeysOfOneSettingAreAnError() {
        XCTAssertThrowsError(try arguments("vm_memory_high_watermark.relative = 0.5\nvm_memory_high_watermark.absolute = 2GiB")) { error in
            XCTAssertEqual("\(error)", "node.conf:2: vm_memory_high_watermark.absolute: sets --memory-high-watermark as line 1 does; give one of them")
        }
    }

    // MARK: The file sets, the flags override

    func testFileSetsEachKindOfSetting() throws {
        let command = try nodeCommand(
            file: """
                berth.data_dir = /var/lib/berth
                listeners.tcp.default = 127.0.0.2:5673
                management.tcp.port = 15673
                max_message_size = 16MiB
                disk_free_limit.absolute = 500000000
                vm_memory_high_watermark.relative = 0.6
                berth.peer_tls = false
                berth.leave_on_shutdown = true
                consumer_timeout_response = close_channel
                log.console.level = debug
                log.console.formatter = json
                berth.node_id = 2
                berth.peer.1 = 1=127.0.0.1:4001
                berth.peer.2 = 2=127.0.0.1:4002
                berth.peer.3 = 3=127.0.0.1:4003
                """)
        XCTAssertEqual(command.dataDirectory, "/var/lib/berth")
        XCTAssertEqual(command.amqpHost, "127.0.0.2")
        XCTAssertEqual(command.amqpPort, 5673)
        XCTAssertEqual(command.httpPort, 15673)
        XCTAssertEqual(NodeCommand.parseSize(command.messageSizeMax), 16 << 20)
        XCTAssertEqual(NodeCommand.parseSize(command.diskFreeLimit), 500_000_000)
        XCTAssertEqual(command.memoryHighWatermark, "0.6")
        XCTAssertFalse(command.peerTLS)
        XCTAssertTrue(command.leaveOnShutdown)
        XCTAssertTrue(command.consumerTimeoutClosesChannel)
        XCTAssertFalse(try nodeCommand(file: "berth.data_dir = /d\nconsumer_timeout_response = cancel_consumer").consumerTimeoutClosesChannel)
        XCTAssertEqual(command.logLevel, .debug)
        XCTAssertEqual(command.logFormat, .json)
        XCTAssertEqual(command.nodeID, 2)
        XCTAssertEqual(command.peers, ["1=127.0.0.1:4001", "2=127.0.0.1:4002", "3=127.0.0.1:4003"])
    }

    func testAbsoluteWatermarkInBytesIsASizeNotAFraction() throws {
        let command = try nodeCommand(file: "berth.data_dir = /d\nvm_memory_high_watermark.absolute = 1073741824")
        XCTAssertEqual(NodeCommand.parseSize(command.memoryHighWatermark), 1 << 30)
    }

    func testListenerPortAloneLeavesTheHost() throws {
        let command = try nodeCommand(file: "berth.data_dir = /d\nlisteners.tcp.default = 5673")
        XCTAssertEqual(command.amqpHost, "127.0.0.1")
        XCTAssertEqual(command.amqpPort, 5673)
        XCTAssertEqual(try nodeCommand(file: "berth.data_dir = /d\nlisteners.tcp.default = [::1]:5673").amqpHost, "::1")
    }

    func testTLSKeysSetTheTLSFlags() throws {
        let command = try nodeCommand(
            file: """
                berth.data_dir = /d
                listeners.ssl.default = 5675
                ssl_options.certfile = /etc/berth/server.pem
                ssl_options.keyfile = /etc/berth/server.key
                ssl_options.cacertfile = /etc/berth/ca.pem
                ssl_options.verify = verify_peer
                ssl_options.fail_if_no_peer_cert = true
                management.ssl.port = 15671
                """)
        XCTAssertEqual(command.tlsPort, 5675)
        XCTAssertEqual(command.tlsCertificate, "/etc/berth/server.pem")
        XCTAssertEqual(command.tlsKey, "/etc/berth/server.key")
        XCTAssertEqual(command.tlsCA, "/etc/berth/ca.pem")
        XCTAssertTrue(command.tlsVerifyPeer)
        XCTAssertTrue(command.tlsFailIfNoPeerCertificate)
        XCTAssertEqual(command.httpsPort, 15671)
        let unverified = try nodeCommand(file: "berth.data_dir = /d\nssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false")
        XCTAssertFalse(unverified.tlsVerifyPeer)
        XCTAssertFalse(unverified.tlsFailIfNoPeerCertificate)
    }

    func testFlagOverridesFile() throws {
        let file = """
            berth.data_dir = /var/lib/berth
            listeners.tcp.default = 127.0.0.2:5673
            heartbeat = 30
            berth.peer_tls = false
            log.console.level = debug
            """
        let command = try nodeCommand(file: file, ["--heartbeat", "10", "--amqp-port", "5680", "--peer-tls", "--log-level=error", "--data-dir", "/tmp/other"])
        XCTAssertEqual(command.heartbeatSeconds, 10)
        XCTAssertEqual(command.amqpHost, "127.0.0.2", "the file's host stays: only the port was given")
        XCTAssertEqual(command.amqpPort, 5680)
        XCTAssertTrue(command.peerTLS)
        XCTAssertEqual(command.logLevel, .error)
        XCTAssertEqual(command.dataDirectory, "/tmp/other")
        // And without those flags, the file's values.
        let fromFile = try nodeCommand(file: file)
        XCTAssertEqual(fromFile.heartbeatSeconds, 30)
        XCTAssertFalse(fromFile.peerTLS)
    }

    func testRepeatedFlagsReplaceTheFilesList() throws {
        let file = """
            berth.data_dir = /d
            berth.node_id = 1
            berth.peer.1 = 1=127.0.0.1:4001
            berth.peer.2 = 2=127.0.0.1:4002
            berth.peer.3 = 3=127.0.0.1:4003
            """
        XCTAssertEqual(try nodeCommand(file: file, ["--peer", "1=10.0.0.1:4001", "--peer", "4=10.0.0.4:4001"]).peers, ["1=10.0.0.1:4001", "4=10.0.0.4:4001"])
        XCTAssertEqual(try nodeCommand(file: file, ["--peer=1=10.0.0.1:4001"]).peers, ["1=10.0.0.1:4001"])
        // --peer-address is not --peer: the file's peers stay.
        XCTAssertEqual(try nodeCommand(file: file, ["--peer-address", "10.0.0.1:4001"]).peers.count, 3)

        let joining = "berth.data_dir = /d\nberth.peer_address = 10.0.0.9:4001\nberth.join.a = 10.0.0.1:4001\nberth.join.b = 10.0.0.2:4001"
        XCTAssertEqual(try nodeCommand(file: joining).join, ["10.0.0.1:4001", "10.0.0.2:4001"])
        XCTAssertEqual(try nodeCommand(file: joining, ["--join", "10.0.0.3:4001"]).join, ["10.0.0.3:4001"])
    }

    func testDataDirectoryFromFileOrFlagButNotNeither() throws {
        XCTAssertEqual(try nodeCommand(file: "heartbeat = 30", ["--data-dir", "/d"]).dataDirectory, "/d")
        XCTAssertThrowsError(try nodeCommand(file: "heartbeat = 30")) { error in
            XCTAssertTrue(NodeCommand.message(for: error).contains("--data-dir"), NodeCommand.message(for: error))
        }
    }

    /// The flags' own checks apply to what the file sets as to what flags set.
    func testFileValuesPassTheFlagsChecks() {
        XCTAssertThrowsError(try nodeCommand(file: "berth.data_dir = /d\nberth.election_timeout_ms = 10")) { error in
            XCTAssertTrue(NodeCommand.message(for: error).contains("--election-timeout-ms"), NodeCommand.message(for: error))
        }
    }

    func testEveryFlagHasAKey() {
        // The options of --help, one a line: `  --data-dir <data-dir>`, `  --peer-tls/--no-peer-tls`.
        let flags = NodeCommand.helpMessage(columns: 10_000).split(separator: "\n").flatMap { line -> [String] in
            let line = line.drop { $0 == " " }
            guard line.hasPrefix("--"), let names = line.split(separator: " ").first else { return [] }
            return names.split(separator: "/").map(String.init)
        }
        XCTAssertGreaterThan(flags.count, 30)
        var covered: Set<String> = ["--config", "--help"]
        for row in NodeCommand.configKeys {
            covered.insert(row.flag)
            switch row.value {
            case .listener(let hostFlag): covered.insert(hostFlag)
            case .words(let arguments): covered.formUnion(arguments.values.joined().filter { $0.hasPrefix("--") })
            default: break
            }
        }
        XCTAssertEqual(Set(flags).subtracting(covered), [], "flags of berth node without a key in NodeCommand.configKeys")
    }

    // MARK: The file named by --config

    func testConfigFileIsReadFromItsPath() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("berth-\(UUID()).conf").path
        try "berth.data_dir = /var/lib/berth\nheartbeat = 30\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        for given in [["--config", path, "--heartbeat", "5"], ["--config=\(path)", "--heartbeat", "5"]] {
            let arguments = try NodeCommand.applyingConfigFile(to: given)
            XCTAssertEqual(arguments, ["--data-dir", "/var/lib/berth", "--heartbeat", "30"] + given)
            let command = try NodeCommand.parse(arguments)
            XCTAssertEqual(command.dataDirectory, "/var/lib/berth")
            XCTAssertEqual(command.heartbeatSeconds, 5)
            XCTAssertEqual(command.configFile, path)
        }
        XCTAssertEqual(try NodeCommand.applyingConfigFile(to: ["--data-dir", "/d"]), ["--data-dir", "/d"])
    }

    func testMissingConfigFileIsNamed() {
        XCTAssertThrowsError(try NodeCommand.applyingConfigFile(to: ["--config", "/nonexistent/berth.conf"])) { error in
            XCTAssertEqual((error as? NodeConfigFileError)?.path, "/nonexistent/berth.conf")
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent/berth.conf: "), "\(error)")
        }
    }

    // MARK: Helpers

    private func arguments(_ text: String, before userArguments: [String] = []) throws -> [String] {
        try NodeCommand.arguments(from: NodeConfigFile(path: "node.conf", text: text), before: userArguments)
    }

    /// `berth node` as parsed from the file's text and then `userArguments`.
    private func nodeCommand(file text: String, _ userArguments: [String] = []) throws -> NodeCommand {
        try NodeCommand.parse(arguments(text, before: userArguments) + userArguments)
    }
}
