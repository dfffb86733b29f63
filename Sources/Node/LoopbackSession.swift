import Client
import NIOCore

/// An AMQP session of a management API user's own with this node: a client connection to
/// this node's AMQP listener on loopback, with the credentials the request came with, and one
/// channel on it. RabbitMQ's management plugin takes messages out of queues through such an
/// internal connection; so does Berth, so that every rule of the broker (permissions, the
/// path through a follower to the leader, limits) applies as to any client, and a follower
/// answers as the leader does.
///
/// Every wait is bounded: the connect and the handshake by `connectTimeout`, each reply by
/// `replyTimeout`; the connection is closed whatever the body does.
struct LoopbackSession {
    static let connectTimeout: TimeAmount = .seconds(5)
    /// A reply to a synchronous method (declare, get, channel.close) and a publish's confirm.
    static let replyTimeout: TimeAmount = .seconds(10)

    /// Runs `body` on a channel of a new connection as `user` to `vhost`, then closes the
    /// connection. Fails with the client's error: a server's close says why the broker refused.
    static func run<Value: Sendable>(
        on reader: NodeAccess, user: (name: String, password: String), vhost: String,
        _ body: (AMQPChannel) async throws(ClientError) -> Value
    ) async -> Result<Value, ClientError> {
        guard let listener = try? await reader.read({ core in core.listeners.first { $0.protocolName == "amqp" } }) else {
            return .failure(.io("this node serves no AMQP listener"))
        }
        var configuration = ConnectionConfiguration(
            credentials: Client.Credentials(username: user.name, password: user.password), virtualHost: vhost, heartbeat: .zero,
            connectTimeout: connectTimeout, rpcTimeout: replyTimeout, connectionName: "berth management API")
        configuration.messageSizeMax = UInt64(NodeConfiguration.messageSizeCeiling)
        let connection: AMQPConnection
        do {
            connection = try await AMQPConnection.connect(
                to: [Endpoint(host: loopbackHost(listener.host), port: listener.port)], configuration: configuration, on: reader.loop)
        } catch {
            return .failure(error)
        }
        let result: Result<Value, ClientError>
        do {
            let channel = try await connection.openChannel()
            result = .success(try await body(channel))
            // channel.close-ok comes after the broker took every method sent before it: the
            // settlements are in place before the route answers.
            await channel.close()
        } catch {
            result = .failure(error)
        }
        await connection.close()
        return result
    }

    /// Where to reach a listener bound to `host` from this machine: a wildcard address by
    /// loopback, any other address as it is.
    static func loopbackHost(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "": "127.0.0.1"
        case "::": "::1"
        default: host
        }
    }
}
