import DequeModule
import NIOCore
import NIOPosix
import Synchronization

/// Added latency on the peer links, since this kernel has no netem: every node's TCP
/// connections to another node's peer port are redirected (nftables DNAT, in the dialing
/// node's namespace) to a listener here, one per ordered pair, which forwards the bytes both
/// ways and holds each chunk back by the current delay. With no delay it forwards at once.
///
/// Order is kept per direction: a chunk is never released before the one read before it,
/// even when the delay drops. Each direction holds at most `queuedBytesMax`; past that it
/// stops reading its source, and it writes only while its destination is writable.
final class DelayProxy: Sendable {
    struct Route: Sendable {
        var listenPort: Int
        var target: SocketAddress
    }

    static let queuedBytesMax = 1 << 20

    private let settings: DelaySettings
    private let listeners = Mutex<[any Channel]>([])
    private let group: any EventLoopGroup

    init(group: any EventLoopGroup, seed: UInt64) {
        self.group = group
        self.settings = DelaySettings(seed: seed)
    }

    /// Listens on `host` at each route's port (0: any free one); returns the ports bound, in
    /// the order of the routes.
    @discardableResult
    func start(host: String, routes: [Route]) async throws -> [Int] {
        var ports: [Int] = []
        for route in routes {
            let target = route.target
            let settings = self.settings
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.autoRead, value: false)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ProxyHalf(settings: settings, dialing: target))
                    }
                }
                .bind(host: host, port: route.listenPort).get()
            listeners.withLock { $0.append(channel) }
            ports.append(channel.localAddress?.port ?? route.listenPort)
        }
        return ports
    }

    /// Sets the delay every chunk gets from now on, with up to a fifth of it again as jitter.
    func setDelay(milliseconds: Int) {
        settings.delayMillis.store(milliseconds, ordering: .relaxed)
    }

    /// Bytes read from either end of every proxied connection so far.
    var bytesRead: Int { settings.bytesRead.load(ordering: .relaxed) }

    /// Stops listening; connections already proxied run until either end closes them.
    func stop() async {
        let channels = listeners.withLock { channels in
            defer { channels.removeAll() }
            return channels
        }
        for channel in channels { try? await channel.close() }
    }
}

/// The delay in force, and the seeded jitter drawn for each chunk.
final class DelaySettings: Sendable {
    let delayMillis = Atomic<Int>(0)
    let bytesRead = Atomic<Int>(0)
    private let random: Mutex<SeededGenerator>

    init(seed: UInt64) {
        self.random = Mutex(SeededGenerator(seed: seed ^ 0xDE1A))
    }

    /// The hold for one chunk: the delay plus up to a fifth of it again.
    func nextHold() -> TimeAmount {
        let millis = delayMillis.load(ordering: .relaxed)
        guard millis > 0 else { return .zero }
        let jitter = random.withLock { $0.below(millis / 5 + 1) }
        return .milliseconds(Int64(millis + jitter))
    }
}

/// One end of a proxied connection. The accepted end dials the target, whose end gets a
/// `ProxyHalf` too; each forwards what it reads into its partner's queue, which releases it
/// to the partner's socket when its time comes. Both ends live on one event loop.
private final class ProxyHalf: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let settings: DelaySettings
    /// The target to dial, for the accepted end; nil for the dialed end.
    private let dialing: SocketAddress?
    private var context: ChannelHandlerContext?
    private var partner: ProxyHalf?
    /// Chunks waiting to be written to this end's socket, with when each may go.
    private var queue: Deque<(due: NIODeadline, bytes: ByteBuffer)> = []
    private var queuedBytes = 0
    private var lastDue = NIODeadline.uptimeNanoseconds(0)
    private var timer: Scheduled<Void>?
    /// This end stopped reading because its partner's queue was full.
    private var readPaused = false
    private var closeWhenDrained = false

    init(settings: DelaySettings, dialing: SocketAddress?) {
        self.settings = settings
        self.dialing = dialing
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        guard let target = dialing else {
            // The dialed end: both ends are up, start reading on both.
            context.read()
            partner?.context?.read()
            return
        }
        let accepted = NIOLoopBound(self, eventLoop: context.eventLoop)
        let settings = self.settings
        ClientBootstrap(group: context.eventLoop)
            .channelOption(.autoRead, value: false)
            .connectTimeout(.seconds(3))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let dialed = ProxyHalf(settings: settings, dialing: nil)
                    dialed.partner = accepted.value
                    accepted.value.partner = dialed
                    try channel.pipeline.syncOperations.addHandler(dialed)
                }
            }
            .connect(to: target)
            .whenFailure { _ in accepted.value.context?.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        settings.bytesRead.add(bytes.readableBytes, ordering: .relaxed)
        partner?.enqueue(bytes)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let partner, partner.queuedBytes >= DelayProxy.queuedBytesMax {
            readPaused = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { release() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        queue.removeAll()
        queuedBytes = 0
        if let partner {
            self.partner = nil
            partner.partnerClosed()
        }
        self.context = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// What the other end read, to be written here once it is due.
    private func enqueue(_ bytes: ByteBuffer) {
        let due = max(lastDue, .now() + settings.nextHold())
        lastDue = due
        queue.append((due, bytes))
        queuedBytes += bytes.readableBytes
        release()
    }

    /// Writes every due chunk while the socket takes them; arms a timer for the next.
    private func release() {
        guard let context else { return }
        timer?.cancel()
        timer = nil
        let now = NIODeadline.now()
        var wrote = false
        while let head = queue.first, head.due <= now, context.channel.isWritable {
            queue.removeFirst()
            queuedBytes -= head.bytes.readableBytes
            context.write(wrapOutboundOut(head.bytes), promise: nil)
            wrote = true
        }
        if wrote { context.flush() }
        if let partner, partner.readPaused, queuedBytes < DelayProxy.queuedBytesMax / 2 {
            partner.readPaused = false
            partner.context?.read()
        }
        if queue.isEmpty {
            if closeWhenDrained { context.close(promise: nil) }
            return
        }
        guard context.channel.isWritable, let due = queue.first?.due else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: due) { loopBound.value.release() }
    }

    /// The other end closed: pass on what it had sent, then close this end too.
    private func partnerClosed() {
        partner = nil
        closeWhenDrained = true
        if queue.isEmpty { context?.close(promise: nil) }
    }
}
