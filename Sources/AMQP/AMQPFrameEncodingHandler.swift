import NIOCore

/// The NIO outbound handler of AMQP: each frame encoded into a buffer of its own, and frames
/// already encoded (`Outbound.encoded`) passed on as they are. `MessageToByteHandler` would
/// copy those once more, and a whole delivery is best written as one buffer.
public final class AMQPFrameEncodingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = AMQPFrameEncoder.Outbound
    public typealias OutboundOut = ByteBuffer

    /// Room allocated for one frame: most are a method of a few dozen bytes.
    private static let frameBufferBytes = 256

    private let encoder = AMQPFrameEncoder()

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let outbound = unwrapOutboundIn(data)
        if case .encoded(let bytes) = outbound {
            context.write(wrapOutboundOut(bytes), promise: promise)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: Self.frameBufferBytes)
        do {
            try encoder.encode(data: outbound, out: &buffer)
        } catch {
            promise?.fail(error)
            context.fireErrorCaught(error)
            return
        }
        context.write(wrapOutboundOut(buffer), promise: promise)
    }
}
