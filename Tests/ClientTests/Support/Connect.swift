import AMQP
import Client
import NIOCore
import NIOPosix
import XCTest

let testGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton

/// Connects to `peer` with heartbeats off unless asked for.
func connect(
    _ peer: ScriptedPeer,
    heartbeat: TimeAmount = .zero,
    frameMax: UInt32 = 131_072
) async throws -> AMQPConnection {
    try await AMQPConnection.connect(
        hosts: [peer.endpoint],
        heartbeat: heartbeat,
        frameMax: frameMax,
        connectTimeout: .seconds(2),
        on: testGroup
    )
}

/// Runs `body`, which must throw; returns the `ClientError` it threw.
func clientError<Value>(
    file: StaticString = #filePath,
    line: UInt = #line,
    _ body: () async throws -> Value
) async -> ClientError? {
    do {
        _ = try await body()
        XCTFail("expected an error", file: file, line: line)
        return nil
    } catch let error as ClientError {
        return error
    } catch {
        XCTFail("expected a ClientError, got \(error)", file: file, line: line)
        return nil
    }
}

extension ByteBuffer {
    var string: String {
        String(buffer: self)
    }
}
