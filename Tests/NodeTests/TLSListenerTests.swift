import AMQP
import Client
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import TLS
import XCTest

@testable import Node

/// AMQP over TLS (amqps) beside the plain listener, with RabbitMQ's choices for clients'
/// certificates: none asked for, checked when presented, or required.
final class TLSListenerTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = "/tmp/berth-tls-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Cluster/make-tls-certificates").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = [directory]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "make-tls-certificates failed")
    }

    override func tearDown() {
        removeTree(directory)
    }

    private func pem(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)")))
    }

    private func settings(_ verification: TLSSettings.PeerVerification) throws -> TLSSettings {
        TLSSettings(
            certificateChainPEM: try pem("server.pem"), privateKeyPEM: try pem("server.key"),
            trustedCertificatesPEM: verification == .none ? nil : try pem("ca.pem"), peerVerification: verification)
    }

    private func startNode(_ verification: TLSSettings.PeerVerification) async throws -> (LocalCluster, BerthNode) {
        let tls = try settings(verification)
        let cluster = LocalCluster(name: "tls") {
            $0.tls = tls
            $0.tlsPort = 0
        }
        return (cluster, try await cluster.startLone())
    }

    /// A client that trusts the test authority and checks the server is localhost,
    /// presenting `certificate` (a name in the directory) if given.
    private func connect(to node: BerthNode, on cluster: LocalCluster, presenting certificate: String? = nil) async throws -> AMQPConnection {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(try pem("ca.pem")))
        if let certificate {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(try pem("\(certificate).pem")).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: try pem("\(certificate).key"), format: .pem))
        }
        let context = try NIOSSLContext(configuration: tls)
        var configuration = ConnectionConfiguration(connectTimeout: .seconds(5))
        configuration.prepareChannel = { channel, _ in
            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: "localhost"))
        }
        return try await AMQPConnection.connect(to: [Endpoint(host: "127.0.0.1", port: node.amqpsAddress!.port!)], configuration: configuration, on: cluster.clientLoop)
    }

    /// Asserts the node refuses a client presenting `certificate` (none if nil).
    private func assertRefused(by node: BerthNode, on cluster: LocalCluster, presenting certificate: String?, _ why: String) async {
        do {
            let connection = try await connect(to: node, on: cluster, presenting: certificate)
            await connection.close()
            XCTFail(why)
        } catch {}
    }

    private func roundTrip(_ connection: AMQPConnection, queue: String) async throws {
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare(queue, durable: true)
        try await channel.confirmSelect()
        try await channel.publish(routingKey: queue, body: ByteBuffer(string: "over TLS"), properties: BasicProperties(deliveryMode: 2)).confirmed()
        let got = try await channel.get(queue: queue, noAck: true)
        XCTAssertEqual(got.map { String(buffer: $0.body) }, "over TLS")
    }

    func testAmqpsServesTheBrokerBesideThePlainListener() async throws {
        let (cluster, node) = try await startNode(.none)
        let port = try XCTUnwrap(node.amqpsAddress?.port)
        XCTAssertNotEqual(port, node.amqpAddress.port)
        let overTLS = try await connect(to: node, on: cluster)
        try await roundTrip(overTLS, queue: "tls")
        await overTLS.close()
        // The plain listener still serves, and sees what came over TLS.
        let plain = try await cluster.connect([node])
        let channel = try await plain.openChannel()
        let declared = try await channel.queueDeclare("tls", passive: true)
        XCTAssertEqual(declared.messageCount, 0, "the message published over TLS was got over TLS")
        await plain.close()
        // Plain AMQP to the TLS port is no handshake: the server closes it, sending no
        // connection.start.
        let received = try RawAMQPSession.exchange(port: port, send: Array("AMQP".utf8) + [0, 0, 9, 1])
        XCTAssertNotEqual(received.first, 1, "no AMQP frame on the TLS port: \(received.prefix(16))")
        try await node.shutdown()
        try await cluster.tearDown()
    }

    func testRequiredClientCertificatesRefuseClientsWithoutOneOrWithAStrangersOne() async throws {
        let (cluster, node) = try await startNode(.required)
        let signed = try await connect(to: node, on: cluster, presenting: "client")
        try await roundTrip(signed, queue: "mutual")
        await signed.close()
        await assertRefused(by: node, on: cluster, presenting: nil, "a client without a certificate was let in")
        await assertRefused(by: node, on: cluster, presenting: "stranger", "a client whose certificate no trusted authority signed was let in")
        try await node.shutdown()
        try await cluster.tearDown()
    }

    func testOptionalClientCertificatesAreCheckedWhenPresented() async throws {
        let (cluster, node) = try await startNode(.verifyIfPresented)
        let anonymous = try await connect(to: node, on: cluster)
        try await roundTrip(anonymous, queue: "optional")
        await anonymous.close()
        let signed = try await connect(to: node, on: cluster, presenting: "client")
        await signed.close()
        await assertRefused(by: node, on: cluster, presenting: "stranger", "a client whose certificate no trusted authority signed was let in")
        try await node.shutdown()
        try await cluster.tearDown()
    }

    /// A key that is not the certificate's, or files that hold no PEM, stop the node's start
    /// with words, before it listens.
    func testAMismatchedKeyOrABadFileIsRefusedAtStart() throws {
        var mismatched = try settings(.none)
        mismatched.privateKeyPEM = try pem("client.key")
        XCTAssertThrowsError(try mismatched.makeServerContext()) { error in
            XCTAssertTrue("\(error)".contains("do not make a TLS server"), "\(error)")
        }
        var noCertificate = try settings(.none)
        noCertificate.certificateChainPEM = Array("not a certificate".utf8)
        XCTAssertThrowsError(try noCertificate.makeServerContext()) { error in
            XCTAssertTrue("\(error)".contains("certificate file"), "\(error)")
        }
        var noAuthorities = try settings(.required)
        noAuthorities.trustedCertificatesPEM = nil
        XCTAssertThrowsError(try noAuthorities.makeServerContext()) { error in
            XCTAssertTrue("\(error)".contains("certificate authorities"), "\(error)")
        }
    }
}
