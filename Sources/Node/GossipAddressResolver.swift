import Gossip
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns gossip peer addresses into socket addresses of the socket's family. IP literals
/// parse at once. Host names are resolved on a thread pool, never on the loop (resolving
/// blocks), and remembered for `lifetime`; a failure is remembered for `retryAfterFailure`.
/// While a name resolves, up to `waitingPerNameMax` sends wait for it; later ones are told
/// there is no address. At most `namesMax` names are remembered.
///
/// Confined to its event loop.
final class GossipAddressResolver {
    struct Settings {
        var lifetime = TimeAmount.seconds(30)
        var retryAfterFailure = TimeAmount.seconds(1)
        var namesMax = 128
        var waitingPerNameMax = 8
    }

    private enum Entry {
        case resolving(waiting: [(SocketAddress?) -> Void])
        case resolved(SocketAddress, until: NIODeadline)
        case failed(until: NIODeadline)

        /// When a settled entry expires; nil while resolving (never evicted then).
        var expiry: NIODeadline? {
            switch self {
            case .resolving: return nil
            case .resolved(_, let until), .failed(let until): return until
            }
        }
    }

    private let loop: any EventLoop
    private let family: NIOBSDSocket.ProtocolFamily
    private let settings: Settings
    private let threadPool: NIOThreadPool
    private var entries: [SWIM.HostPort: Entry] = [:]
    private var stopped = false

    init(loop: any EventLoop, family: NIOBSDSocket.ProtocolFamily, settings: Settings = Settings(),
         threadPool: NIOThreadPool = .singleton) {
        self.loop = loop
        self.family = family
        self.settings = settings
        self.threadPool = threadPool
    }

    /// Calls `use` with the address, or with nil if there is none (yet): at once when it is
    /// known, else once the name resolves. Always on the loop.
    func resolve(_ hostPort: SWIM.HostPort, then use: @escaping (SocketAddress?) -> Void) {
        loop.preconditionInEventLoop()
        guard !stopped else { return use(nil) }
        if let literal = try? SocketAddress(ipAddress: hostPort.host, port: Int(hostPort.port)) {
            return use(literal.protocol == family ? literal : nil)
        }
        let now = NIODeadline.now()
        switch entries[hostPort] {
        case .resolved(let address, let until) where now < until:
            use(address)
        case .failed(let until) where now < until:
            use(nil)
        case .resolving(var waiting):
            guard waiting.count < settings.waitingPerNameMax else { return use(nil) }
            waiting.append(use)
            entries[hostPort] = .resolving(waiting: waiting)
        case .resolved, .failed, nil:
            guard makeRoom(for: hostPort) else { return use(nil) }
            entries[hostPort] = .resolving(waiting: [use])
            lookUp(hostPort)
        }
    }

    /// Forgets every name; sends still waiting are told there is no address.
    func stop() {
        stopped = true
        let waiting = entries.values.flatMap { entry -> [(SocketAddress?) -> Void] in
            if case .resolving(let waiting) = entry { return waiting }
            return []
        }
        entries = [:]
        for use in waiting { use(nil) }
    }

    private func lookUp(_ hostPort: SWIM.HostPort) {
        let family = self.family
        let bound = NIOLoopBound(self, eventLoop: loop)
        threadPool.runIfActive(eventLoop: loop) {
            try Self.resolveBlocking(host: hostPort.host, port: hostPort.port, family: family)
        }.whenComplete { result in
            bound.value.finish(hostPort, with: try? result.get())
        }
    }

    private func finish(_ hostPort: SWIM.HostPort, with address: SocketAddress?) {
        guard !stopped, case .resolving(let waiting) = entries[hostPort] else { return }
        let now = NIODeadline.now()
        if let address {
            entries[hostPort] = .resolved(address, until: now + settings.lifetime)
        } else {
            entries[hostPort] = .failed(until: now + settings.retryAfterFailure)
        }
        for use in waiting { use(address) }
    }

    /// Whether `hostPort` may take an entry: there is room, or a settled entry (the one
    /// expiring first) gives way. Names still resolving are never evicted.
    private func makeRoom(for hostPort: SWIM.HostPort) -> Bool {
        if entries[hostPort] != nil || entries.count < settings.namesMax { return true }
        let evictable = entries.compactMap { key, entry in entry.expiry.map { (key, $0) } }
        guard let oldest = evictable.min(by: { $0.1 < $1.1 }) else { return false }
        entries[oldest.0] = nil
        return true
    }

    struct ResolutionFailed: Error {
        var host: String
    }

    /// getaddrinfo, asking for the socket's family only (a name may have addresses of both).
    /// Blocks: runs on the thread pool.
    private static func resolveBlocking(host: String, port: UInt16, family: NIOBSDSocket.ProtocolFamily) throws -> SocketAddress {
        var hints = addrinfo()
        hints.ai_family = family.rawValue
        var results: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &results) == 0, let first = results else { throw ResolutionFailed(host: host) }
        defer { freeaddrinfo(first) }
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let info = next {
            next = info.pointee.ai_next
            guard let raw = info.pointee.ai_addr else { continue }
            switch Int32(raw.pointee.sa_family) {
            case AF_INET:
                var address = UnsafeRawPointer(raw).load(as: sockaddr_in.self)
                address.sin_port = in_port_t(port).bigEndian
                return SocketAddress(address, host: host)
            case AF_INET6:
                var address = UnsafeRawPointer(raw).load(as: sockaddr_in6.self)
                address.sin6_port = in_port_t(port).bigEndian
                return SocketAddress(address, host: host)
            default:
                continue
            }
        }
        throw ResolutionFailed(host: host)
    }
}
