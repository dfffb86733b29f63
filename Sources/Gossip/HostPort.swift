extension SWIM {
    /// Where to reach one service of a node.
    public struct HostPort: Hashable, Sendable, CustomStringConvertible {
        /// A host name or an IP address; at most `Wire.hostBytesMax` bytes of UTF-8.
        public var host: String
        public var port: UInt16

        public init(host: String, port: UInt16) {
            self.host = host
            self.port = port
        }

        public var description: String { "\(host):\(port)" }
    }

    /// The three addresses a member publishes.
    public struct Addresses: Hashable, Sendable {
        /// Peer traffic: gossip over UDP, Raft and forwarding over TCP.
        public var peer: HostPort
        /// AMQP 0-9-1 clients.
        public var amqp: HostPort
        /// Management API, metrics and dashboard.
        public var http: HostPort

        public init(peer: HostPort, amqp: HostPort, http: HostPort) {
            self.peer = peer
            self.amqp = amqp
            self.http = http
        }
    }
}
