import AMQP
import NIOCore

/// The peer's pipeline handler: logs, assembles, and hands methods to the script.
final class PeerHandler: ChannelInboundHandler {
    typealias InboundIn = AMQPFrameDecoder.Inbound
    typealias OutboundOut = ByteBuffer

    private let options: ScriptedPeer.Options
    private let shared: PeerShared
    private let script: ScriptedPeer.Script
    private var session: PeerSession?
    private var assemblers: [UInt16: ContentAssembler] = [:]

    init(options: ScriptedPeer.Options, shared: PeerShared, script: @escaping ScriptedPeer.Script) {
        self.options = options
        self.shared = shared
        self.script = script
    }

    func channelActive(context: ChannelHandlerContext) {
        let session = PeerSession(context: context, options: self.options)
        self.session = session
        let bound = NIOLoopBound(session, eventLoop: context.eventLoop)
        self.shared.state.withLock {
            $0.log.connectionsAccepted += 1
            $0.sessions.append(bound)
        }
        if case .closeOnAccept = self.options.behaviour {
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.session?.stopHeartbeats()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.shared.state.withLock { $0.log.errors.append(String(describing: error)) }
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session = self.session else {
            return
        }
        switch self.unwrapInboundIn(data) {
        case .protocolHeader:
            guard case .amqp = self.options.behaviour else {
                return
            }
            let start = Method.Connection.Start(
                serverProperties: ["product": "ScriptedPeer"],
                mechanisms: Array(self.options.mechanisms.utf8)
            )
            session.send(channel: 0, .connection(.start(start)))
        case .frame(let frame):
            self.shared.state.withLock { $0.log.frames.append(frame) }
            self.receive(frame, session: session)
        }
    }

    private func receive(_ frame: Frame, session: PeerSession) {
        let assembled: AssembledMethod
        switch frame {
        case .heartbeat:
            return
        case .method(0, let method):
            assembled = .method(method)
        case .method, .header, .body:
            var assembler = self.assemblers[frame.channel] ?? ContentAssembler(channel: frame.channel)
            let result = Result { () throws(AMQPError) -> AssembledMethod? in try assembler.receive(frame) }
            self.assemblers[frame.channel] = assembler
            switch result {
            case .success(nil):
                return
            case .success(let whole?):
                assembled = whole
            case .failure(let error):
                self.shared.state.withLock { $0.log.errors.append(String(describing: error)) }
                return
            }
        }
        if case .content(.publish, _, _) = assembled {
            session.publishes[frame.channel, default: 0] += 1
        }
        self.shared.state.withLock { $0.log.methods.append(ReceivedMethod(channel: frame.channel, assembled: assembled)) }
        if !self.script(session, frame.channel, assembled) {
            session.answerByDefault(channel: frame.channel, assembled)
        }
    }
}
