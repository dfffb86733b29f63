import Broker
import StatusAPI

/// The cluster's client connections, their channels and consumers, as the leader serves them
/// (a follower relays each of its clients' channels to the leader): the management API's
/// `/api/connections`, `/api/channels` and `/api/consumers`. A follower asks the leader.
extension NodeCore {
    /// The most listed of each kind: an answer stays one peer frame well inside its bound.
    static let clientConnectionsListedMax = 20_000

    /// On the leader; nil elsewhere.
    var clientConnectionsHere: ClientConnections? {
        guard isLeading else { return nil }
        var connections: [ConnectionInfo] = []
        var channelsByID: [ChannelID: ChannelInfo] = [:]
        var channels: [ChannelInfo] = []
        let views = clients.compactMap { id, client in client.managementView.map { (id, $0) } }.sorted { $0.0 < $1.0 }
        for (id, view) in views.prefix(Self.clientConnectionsListedMax) {
            let connection = ConnectionInfo(
                name: view.name, node: ManagementRoutes.nodeName(view.node), user: view.user, vhost: view.vhost, host: view.local.host,
                port: view.local.port, peerHost: view.peer.host, peerPort: view.peer.port, ssl: view.tls, authMechanism: view.authMechanism,
                channels: view.channels.count, channelMax: Int(view.channelMax), frameMax: Int(view.frameMax), heartbeat: Int(view.heartbeatSeconds),
                connectedAt: view.connectedAt, clientProperties: ManagementRoutes.json(ArgumentTable(view.clientProperties)))
            connections.append(connection)
            for channel in view.channels where channels.count < Self.clientConnectionsListedMax {
                let channelID = ChannelID(connection: id, number: channel.number)
                let prefetch = dispatcher?.prefetch(of: channelID) ?? (perConsumer: 0, perChannel: 0)
                let info = ChannelInfo(
                    connection: connection, number: Int(channel.number), consumers: dispatcher?.consumerTags(channelID).count ?? 0,
                    unacknowledged: dispatcher?.unackedCount(channelID) ?? 0, unconfirmed: channel.unconfirmed,
                    prefetch: Int(prefetch.perConsumer), globalPrefetch: Int(prefetch.perChannel), confirm: channel.confirm,
                    transactional: channel.transactional)
                channelsByID[channelID] = info
                channels.append(info)
            }
        }
        let consumers = (dispatcher?.consumerViews ?? []).prefix(Self.clientConnectionsListedMax).compactMap { consumer -> ConsumerInfo? in
            guard let channel = channelsByID[consumer.channel] else { return nil }
            return ConsumerInfo(tag: consumer.tag, queue: consumer.queue.name, vhost: consumer.queue.vhost, channel: channel,
                                ackRequired: !consumer.noAck, exclusive: consumer.exclusive, prefetch: Int(consumer.prefetch), priority: consumer.priority,
                                isSingleActive: consumer.isSingleActive)
        }
        return ClientConnections(connections: connections, channels: channels, consumers: consumers)
    }
}
