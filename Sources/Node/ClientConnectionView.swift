import AMQP
import NIOCore
import Raft

/// What the management API shows of one client connection the leader serves: who, from
/// where, through which node, and its channels. Forwarded sessions say where their client is
/// (`ForwardedClient`), so the leader lists the cluster's connections as their clients see them.
struct ClientConnectionView {
    struct Channel {
        var number: UInt16
        var confirm: Bool
        var transactional: Bool
        var unconfirmed: Int
    }

    var connection: String
    var node: NodeID
    var peer: (host: String, port: Int)
    var local: (host: String, port: Int)
    var tls: Bool
    var user: String
    var vhost: String
    var authMechanism: String
    var channelMax: UInt16
    var frameMax: UInt32
    var heartbeatSeconds: UInt16
    var connectedAt: Int64
    var clientProperties: FieldTable
    var channels: [Channel]

    /// RabbitMQ's name of a connection.
    var name: String { Self.name(peer: peer, local: local) }

    static func name(peer: (host: String, port: Int), local: (host: String, port: Int)) -> String {
        "\(peer.host):\(peer.port) -> \(local.host):\(local.port)"
    }
}

/// A follower tells the leader, in the client properties of the session it opens for a
/// client, where that client is and how it came: the leader lists it so. Only a session that
/// proved the cluster secret is believed; a client's own properties of these names are not.
enum ForwardedClient {
    static let nodeKey = "x-forwarded-from-node"
    static let peerKey = "x-forwarded-for"
    static let localKey = "x-forwarded-to"
    static let tlsKey = "x-forwarded-tls"
    static let mechanismKey = "x-forwarded-mechanism"
    static let keys: Set<String> = [nodeKey, peerKey, localKey, tlsKey, mechanismKey]

    static func properties(_ properties: FieldTable, node: NodeID, peer: SocketAddress?, local: SocketAddress?, tls: Bool, mechanism: String) -> FieldTable {
        var forwarded = FieldTable(properties.entries.filter { !keys.contains($0.name) })
        forwarded.append(name: nodeKey, value: .int64(Int64(bitPattern: node)))
        forwarded.append(name: peerKey, value: .longString(Array(text(peer).utf8)))
        forwarded.append(name: localKey, value: .longString(Array(text(local).utf8)))
        forwarded.append(name: tlsKey, value: .bool(tls))
        forwarded.append(name: mechanismKey, value: .longString(Array(mechanism.utf8)))
        return forwarded
    }

    /// Where a forwarded session's client is, from its properties.
    static func origin(_ properties: FieldTable) -> (node: NodeID, peer: (host: String, port: Int), local: (host: String, port: Int), tls: Bool, mechanism: String)? {
        guard case .int64(let node)? = properties[nodeKey], case .longString(let peer)? = properties[peerKey],
            case .longString(let local)? = properties[localKey], case .bool(let tls)? = properties[tlsKey],
            case .longString(let mechanism)? = properties[mechanismKey]
        else { return nil }
        return (NodeID(bitPattern: node), hostPort(String(decoding: peer, as: UTF8.self)), hostPort(String(decoding: local, as: UTF8.self)), tls,
                String(decoding: mechanism, as: UTF8.self))
    }

    /// The client's own properties, without what a follower added.
    static func clientsOwn(_ properties: FieldTable) -> FieldTable {
        FieldTable(properties.entries.filter { !keys.contains($0.name) })
    }

    static func hostPort(_ address: SocketAddress?) -> (host: String, port: Int) {
        (address?.ipAddress ?? "unknown", address?.port ?? 0)
    }

    private static func text(_ address: SocketAddress?) -> String {
        let (host, port) = hostPort(address)
        return "\(host)|\(port)"
    }

    private static func hostPort(_ text: String) -> (host: String, port: Int) {
        guard let bar = text.lastIndex(of: "|") else { return (text, 0) }
        return (String(text[..<bar]), Int(text[text.index(after: bar)...]) ?? 0)
    }
}
