import AMQP

extension Method {
    /// Whether the peer answers this request with a reply method (a synchronous request
    /// without no-wait).
    var awaitsReply: Bool {
        switch self {
        case .channel(.open), .channel(.flow), .channel(.close): true
        case .exchange(.declare(let m)): !m.noWait
        case .exchange(.delete(let m)): !m.noWait
        case .exchange(.bind(let m)): !m.noWait
        case .exchange(.unbind(let m)): !m.noWait
        case .queue(.declare(let m)): !m.noWait
        case .queue(.bind(let m)): !m.noWait
        case .queue(.purge(let m)): !m.noWait
        case .queue(.delete(let m)): !m.noWait
        case .queue(.unbind): true
        case .basic(.qos), .basic(.get), .basic(.recover): true
        case .basic(.consume(let m)): !m.noWait
        case .basic(.cancel(let m)): !m.noWait
        case .confirm(.select(let m)): !m.noWait
        case .tx(.select), .tx(.commit), .tx(.rollback): true
        default: false
        }
    }

    /// Whether this is the reply to a synchronous request.
    var isReply: Bool {
        switch self {
        case .channel(.openOk), .channel(.flowOk), .channel(.closeOk),
            .exchange(.declareOk), .exchange(.deleteOk), .exchange(.bindOk), .exchange(.unbindOk),
            .queue(.declareOk), .queue(.bindOk), .queue(.purgeOk), .queue(.deleteOk), .queue(.unbindOk),
            .basic(.qosOk), .basic(.consumeOk), .basic(.cancelOk), .basic(.getOk), .basic(.getEmpty), .basic(.recoverOk),
            .confirm(.selectOk), .tx(.selectOk), .tx(.commitOk), .tx(.rollbackOk):
            true
        default: false
        }
    }
}
