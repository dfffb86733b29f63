import Glibc
import Logging
import NIOCore
import NIOPosix
import PeerWire
import Raft
import XCTest

@testable import Node

/// The peer handshake against a client that writes frames by hand: proofs bind both hellos
/// and go in order (the acceptor's first, the dialler's only after it), and a connection
/// that has not proved itself gets nothing larger than a handshake frame buffered.
final class PeerHandshakeTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    private let secret = Array("a secret only this cluster knows".utf8)
    private var transports: [NIOLoopBound<PeerTransport>] = []

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() async throws {
        for transport in transports { try await group.next().submit { transport.value.stop() }.get() }
        try await group.shutdownGracefully()
    }

    /// Nodes `ids`, each listening on a port of its own; every one knows every other's address.
    private func startTransports(_ ids: [NodeID]) async throws -> [NodeID: PeerAddress] {
        var addresses: [NodeID: PeerAddress] = [:]
        for id in ids { addresses[id] = PeerAddress(host: "127.0.0.1", port: try freePort()) }
        let loop = group.next()
        for id in ids {
            let (secret, peers) = (self.secret, addresses)
            transports.append(try await loop.flatSubmit {
                let transport = PeerTransport(nodeID: id, secret: secret, peers: peers, loop: loop, logger: Logger(label: "test")) { _, _ in }
                let bound = NIOLoopBound(transport, eventLoop: loop)
                return transport.start(listeningOn: peers[id]!).map { bound }
            }.get())
        }
        return addresses
    }

    /// The relay that made the old handshake a signing oracle: the attacker dials node 1
    /// claiming to be node 2, dials node 2 claiming to be node 1 with node 1's nonce, and
    /// hands node 2's proof to node 1. Node 2's proof is an acceptor's, over another link's
    /// hellos: node 1 refuses it and closes.
    func testAProofRelayedFromAnotherLinkIsRefused() async throws {
        let addresses = try await startTransports([1, 2])
        let toNode1 = try RawPeerConnection(port: addresses[1]!.port)
        guard case .hello(1, let node1Nonce, _) = try toNode1.next() else { return XCTFail("node 1 says hello first") }
        try toNode1.send(.hello(node: 2, nonce: Array(repeating: 9, count: PeerFrame.nonceBytes), purpose: .raft))
        guard case .proof = try toNode1.next() else { return XCTFail("node 1, accepting, proves itself first") }

        let toNode2 = try RawPeerConnection(port: addresses[2]!.port)
        guard case .hello(2, _, _) = try toNode2.next() else { return XCTFail("node 2 says hello first") }
        try toNode2.send(.hello(node: 1, nonce: node1Nonce, purpose: .raft))
        guard case .proof(let node2Proof) = try toNode2.next() else { return XCTFail("node 2 proves itself") }

        try toNode1.send(.proof(mac: node2Proof))
        XCTAssertNil(try toNode1.next(), "node 1 closes the link instead of taking node 2's proof")
    }

    /// A dialler that gets a hello and a proof that does not check out sends no proof of
    /// its own: it closes.
    func testADiallerSendsNoProofBeforeTheAcceptorProvedItself() async throws {
        let listener = try ListeningSocket()
        let loop = group.next()
        let own = PeerAddress(host: "127.0.0.1", port: try freePort())
        let peers: [NodeID: PeerAddress] = [1: own, 2: PeerAddress(host: "127.0.0.1", port: listener.port)]
        let secret = self.secret
        transports.append(try await loop.flatSubmit {
            let transport = PeerTransport(nodeID: 1, secret: secret, peers: peers, loop: loop, logger: Logger(label: "test")) { _, _ in }
            let bound = NIOLoopBound(transport, eventLoop: loop)
            return transport.start(listeningOn: own).map { bound }
        }.get())
        let dialled = try listener.accept()
        guard case .hello(1, _, _) = try dialled.next() else { return XCTFail("node 1 dials and says hello") }
        try dialled.send(.hello(node: 2, nonce: Array(repeating: 5, count: PeerFrame.nonceBytes), purpose: .raft))
        try dialled.send(.proof(mac: Array(repeating: 0, count: PeerFrame.macBytes)))
        XCTAssertNil(try dialled.next(), "no proof from node 1, and the link closed")
    }

    /// Before a connection proved itself, a frame longer than a handshake's is refused from
    /// its length prefix, however much of it is sent.
    func testALongFrameBeforeTheHandshakeClosesTheConnection() async throws {
        let addresses = try await startTransports([1])
        let stranger = try RawPeerConnection(port: addresses[1]!.port)
        guard case .hello = try stranger.next() else { return XCTFail("node 1 says hello first") }
        let length = UInt32(PeerFrame.handshakeFrameBytesMax + 1)
        try stranger.write((0..<4).map { UInt8(truncatingIfNeeded: length >> (8 * UInt32($0))) } + [PeerFrame.version, 1])
        XCTAssertNil(try stranger.next(), "closed on the prefix alone")
    }
}

/// A blocking loopback TCP connection that speaks peer frames by hand; reads time out
/// after 5 s.
private final class RawPeerConnection {
    private let fd: Int32

    init(port: Int) throws {
        fd = try RawAMQPSession.connectToLoopback(port: port)
    }

    init(fd: Int32) {
        self.fd = fd
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ frame: PeerFrame) throws { try write(frame.encoded()) }

    func write(_ bytes: [UInt8]) throws {
        let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard written == bytes.count else { throw POSIXError(.EPIPE) }
    }

    /// The next frame, or nil once the other side closed; throws on a read timeout.
    func next() throws -> PeerFrame? {
        guard let prefix = try read(PeerFrame.lengthPrefixBytes) else { return nil }
        let length = try PeerFrame.payloadLength(prefix: prefix, limits: PeerWireLimits())
        guard let payload = try read(length) else { return nil }
        return try PeerFrame(payload: payload, limits: PeerWireLimits())
    }

    private func read(_ count: Int) throws -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            if n == 0 { return nil }
            if n < 0 {
                if errno == ECONNRESET { return nil }
                throw POSIXError(.ETIMEDOUT)
            }
            got += n
        }
        return bytes
    }
}

/// A loopback listening socket, for a transport to dial.
private final class ListeningSocket {
    private let fd: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 4) == 0 else {
            close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        fd = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }

    /// The next connection, within 5 s.
    func accept() throws -> RawPeerConnection {
        let connection = Glibc.accept(fd, nil, nil)
        guard connection >= 0 else { throw POSIXError(.ETIMEDOUT) }
        return RawPeerConnection(fd: connection)
    }
}
