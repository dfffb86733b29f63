import XCTest

@testable import Gossip

/// The wire codec: every message round-trips, the encoding is canonical, sizes are bounded,
/// and garbage is an error, never a crash.
final class WireTests: XCTestCase {
    func testEachKindRoundTrips() throws {
        var alarmed = Fixture.member(6, incarnation: 4)
        alarmed.alarms = [.memory, .disk]
        let updates = [Fixture.member(2, .suspect, incarnation: 3), Fixture.member(3, .left, incarnation: SWIM.incarnationMax), alarmed]
        let bodies: [SWIM.Message.Body] = [
            .ping(updates: []),
            .ping(updates: updates),
            .pingRequest(target: 3, targetAddress: Fixture.peer(3), updates: updates),
            .ack(target: 3, incarnation: 9, updates: updates),
            .nack(target: 3, updates: []),
            .join(Fixture.member(4)),
            .joinReply(members: updates + [Fixture.member(1)]),
            .leave(Fixture.member(5, .left, incarnation: 2)),
        ]
        for body in bodies {
            let message = SWIM.Message(from: UInt64.max, sequence: 0xDEAD_BEEF, body: body)
            let bytes = message.encoded()
            XCTAssertEqual(bytes.first, SWIM.Wire.version)
            XCTAssertEqual(try SWIM.Message(decoding: bytes), message)
        }
    }

    /// The layout is the documented one, byte for byte.
    func testPingLayout() {
        let member = SWIM.Member(id: 2, incarnation: 1, status: .suspect, addresses: SWIM.Addresses(
            peer: SWIM.HostPort(host: "a", port: 1), amqp: SWIM.HostPort(host: "", port: 2), http: SWIM.HostPort(host: "bc", port: 0x0102)),
            alarms: .disk)
        let bytes = SWIM.Message(from: 7, sequence: 0x0102, body: .ping(updates: [member])).encoded()
        XCTAssertEqual(bytes, [2, 1] + [0, 0, 0, 0, 0, 0, 0, 7] + [0, 0, 0, 0, 0, 0, 1, 2] + [0, 1]
            + [0, 0, 0, 0, 0, 0, 0, 2] + [0, 0, 0, 0, 0, 0, 0, 1] + [1] + [2]
            + [1, 0x61, 0, 1] + [0, 0, 2] + [2, 0x62, 0x63, 1, 2])
    }

    /// The largest message a configuration can produce fits one datagram.
    func testWorstCaseMessageFitsOneDatagram() throws {
        let long = SWIM.HostPort(host: String(repeating: "é", count: SWIM.Wire.hostBytesMax / 2) + "x", port: 65535)
        XCTAssertEqual(long.host.utf8.count, SWIM.Wire.hostBytesMax)
        let members = (1...SWIM.NodeID(SWIM.Wire.membersPerMessageMax)).map {
            SWIM.Member(id: $0, incarnation: SWIM.incarnationMax, status: .left, addresses: SWIM.Addresses(peer: long, amqp: long, http: long),
                        alarms: .known)
        }
        let message = SWIM.Message(from: 1, sequence: 1, body: .pingRequest(target: 2, targetAddress: long, updates: members))
        let bytes = message.encoded()
        XCTAssertLessThanOrEqual(bytes.count, SWIM.Wire.datagramBytesMax)
        XCTAssertEqual(try SWIM.Message(decoding: bytes), message)
        XCTAssertGreaterThanOrEqual(SWIM.Wire.membersPerMessageMax, SWIM.Settings(randomSeed: 1).membersMax)
    }

    func testEachDecodeError() {
        let valid = SWIM.Message(from: 1, sequence: 2, body: .ack(target: 3, incarnation: 4, updates: [Fixture.member(5)])).encoded()
        func rejects(_ bytes: [UInt8], _ error: SWIM.Wire.DecodeError, line: UInt = #line) {
            XCTAssertThrowsError(try SWIM.Message(decoding: bytes), line: line) {
                XCTAssertEqual($0 as? SWIM.Wire.DecodeError, error, line: line)
            }
        }
        rejects([], .truncated)
        rejects(Array(valid.dropLast()), .truncated)
        rejects(valid + [0], .trailingBytes(count: 1))
        rejects([1] + valid.dropFirst(), .unsupportedVersion(1))
        rejects([2, 0] + valid.dropFirst(2), .unknownKind(0))
        rejects([2, 99] + valid.dropFirst(2), .unknownKind(99))
        rejects([2, 1] + [UInt8](repeating: 0, count: 16) + [0, 0], .zeroNodeID)
        rejects(Array(repeating: 1, count: SWIM.Wire.datagramBytesMax + 1), .tooLong(bytes: SWIM.Wire.datagramBytesMax + 1, max: SWIM.Wire.datagramBytesMax))

        let header: [UInt8] = [2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]
        rejects(header + [0xFF, 0xFF], .tooManyMembers(count: 0xFFFF, max: SWIM.Wire.membersPerMessageMax))
        let id: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 9]
        let zero: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0]
        let host: [UInt8] = [1, 0x61, 0, 1]
        rejects(header + [0, 1] + id + zero + [7, 0] + host + host + host, .unknownStatus(7))
        rejects(header + [0, 1] + id + zero + [0, 4] + host + host + host, .unknownAlarms(4))
        rejects(header + [0, 1] + id + [0x80, 0, 0, 0, 0, 0, 0, 0] + [0, 0] + host + host + host,
                .incarnationOutOfRange(0x8000_0000_0000_0000))
        rejects(header + [0, 1] + id + zero + [0, 0] + [2, 0xC3, 0x28, 0, 1] + host + host, .invalidUTF8Host)
        rejects(header + [0, 1] + zero + zero + [0, 0] + host + host + host, .zeroNodeID)
    }

    /// Seeded: thousands of random messages round-trip exactly.
    func testRandomMessagesRoundTrip() throws {
        var random = SeededGenerator(seed: 0x5EED)
        for _ in 0..<3000 {
            let message = Self.randomMessage(&random)
            XCTAssertEqual(try SWIM.Message(decoding: message.encoded()), message)
        }
    }

    /// Seeded: random bytes, and valid messages with bytes flipped, inserted, removed or cut
    /// off, never crash the decoder; whatever does decode re-encodes to the same bytes (the
    /// encoding is canonical, so no two datagrams mean the same message).
    func testGarbageNeverCrashes() {
        var random = SeededGenerator(seed: 0xBAD)
        var decoded = 0
        var rejected: [String: Int] = [:]
        func attempt(_ bytes: [UInt8]) {
            do {
                let message = try SWIM.Message(decoding: bytes)
                decoded += 1
                XCTAssertEqual(message.encoded(), bytes)
            } catch {
                rejected["\(error)".prefix { $0 != "(" }.description, default: 0] += 1
            }
        }
        for _ in 0..<4000 {
            let count = random.below(120)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if count > 2, random.below(2) == 0 {
                bytes[0] = SWIM.Wire.version
                bytes[1] = UInt8(1 + random.below(7))
            }
            attempt(bytes)
        }
        for _ in 0..<6000 {
            var bytes = Self.randomMessage(&random).encoded()
            for _ in 0...random.below(3) {
                switch random.below(4) {
                case 0: if !bytes.isEmpty { bytes[random.below(bytes.count)] ^= UInt8(1 + random.below(255)) }
                case 1: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: random.below(bytes.count + 1))
                case 2: if !bytes.isEmpty { bytes.remove(at: random.below(bytes.count)) }
                default: bytes = Array(bytes.prefix(random.below(bytes.count + 1)))
                }
            }
            attempt(bytes)
        }
        print("garbage: 10000 inputs, \(decoded) decoded (and re-encoded to the same bytes), rejected: \(rejected.sorted { $0.key < $1.key })")
        XCTAssertGreaterThan(decoded, 0, "some mutations still decode")
        XCTAssertGreaterThan(rejected.count, 5, "many kinds of error are exercised: \(rejected)")
    }

    static func randomMessage(_ random: inout SeededGenerator) -> SWIM.Message {
        func id() -> SWIM.NodeID { 1 + random.next() % 1000 }
        func host() -> String {
            let pieces = ["10", "0", "1", "node", "é", "节点", "-", ".", "berth", "::1", "fe80"]
            return (0..<random.below(8)).map { _ in pieces[random.below(pieces.count)] }.joined()
        }
        func hostPort() -> SWIM.HostPort { SWIM.HostPort(host: host(), port: UInt16(truncatingIfNeeded: random.next())) }
        func member() -> SWIM.Member {
            let statuses: [SWIM.Status] = [.alive, .suspect, .dead, .left]
            return SWIM.Member(id: id(), incarnation: random.next() % (SWIM.incarnationMax + 1), status: statuses[random.below(4)],
                               addresses: SWIM.Addresses(peer: hostPort(), amqp: hostPort(), http: hostPort()),
                               alarms: SWIM.Alarms(rawValue: UInt8(random.below(4))))
        }
        func members() -> [SWIM.Member] { (0..<random.below(6)).map { _ in member() } }
        let body: SWIM.Message.Body
        switch random.below(7) {
        case 0: body = .ping(updates: members())
        case 1: body = .pingRequest(target: id(), targetAddress: hostPort(), updates: members())
        case 2: body = .ack(target: id(), incarnation: random.next() % (SWIM.incarnationMax + 1), updates: members())
        case 3: body = .nack(target: id(), updates: members())
        case 4: body = .join(member())
        case 5: body = .joinReply(members: members())
        default: body = .leave(member())
        }
        return SWIM.Message(from: id(), sequence: random.next(), body: body)
    }
}
