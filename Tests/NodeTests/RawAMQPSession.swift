import AMQP
import Glibc
import NIOCore
import XCTest

/// A client that writes frames exactly as given and reads the node's frames back, on a
/// blocking socket with a read timeout: for input no well-behaved client library sends.
final class RawAMQPSession {
    private let fd: Int32
    private var parser = FrameParser()
    private var unread = ByteBuffer()

    /// Connects to `port` on loopback and opens the connection as guest.
    init(port: Int) throws {
        fd = try Self.connectToLoopback(port: port)
        try write([UInt8]("AMQP".utf8) + [0, 0, 9, 1])
        _ = try next { if case .method(_, .connection(.start)) = $0 { true } else { false } }
        let response = [0] + Array("guest".utf8) + [0] + Array("guest".utf8)
        try send([.method(channel: 0, .connection(.startOk(.init(clientProperties: [:], mechanism: "PLAIN", response: response, locale: "en_US"))))])
        _ = try next { if case .method(_, .connection(.tune)) = $0 { true } else { false } }
        try send([
            .method(channel: 0, .connection(.tuneOk(.init(channelMax: 2047, frameMax: 131_072, heartbeat: 0)))),
            .method(channel: 0, .connection(.open(.init()))),
        ])
        _ = try next { if case .method(_, .connection(.openOk)) = $0 { true } else { false } }
    }

    deinit { close(fd) }

    /// A blocking TCP socket connected to `port` on 127.0.0.1, whose reads time out after 5 s.
    static func connectToLoopback(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Connects to `port`, sends `bytes`, and reads until the server closes (each read waits
    /// at most 5 s): for an exchange no client library would make.
    static func exchange(port: Int, send bytes: [UInt8]) throws -> [UInt8] {
        let fd = try connectToLoopback(port: port)
        defer { close(fd) }
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            received += buffer[..<n]
        }
        return received
    }

    func send(_ frames: [Frame]) throws {
        var buffer = ByteBuffer()
        for frame in frames { try FrameWriter.writeFrame(frame, into: &buffer) }
        try write(Array(buffer.readableBytesView))
    }

    /// Opens channel `number`; the node's answers up to its open-ok.
    func openChannel(_ number: UInt16) throws -> [String] {
        try send([.method(channel: number, .channel(.open(.init())))])
        return try frames { if case .method(_, .channel(.openOk)) = $0 { true } else { false } }.map(\.answer)
    }

    /// A publish of `body` with a header that declares `declaredSize` bytes.
    static func publish(channel: UInt16, exchange: String, routingKey: String, body: [UInt8], declaredSize: UInt64? = nil) -> [Frame] {
        [
            .method(channel: channel, .basic(.publish(.init(exchange: exchange, routingKey: routingKey)))),
            .header(channel: channel, ContentHeader(bodySize: declaredSize ?? UInt64(body.count))),
        ] + FrameWriter.bodyFrames(channel: channel, body: ByteBuffer(bytes: body), frameSizeMax: 131_072)
    }

    /// The node's frames up to the first that `isLast` picks, that one included; what the
    /// node sent before the connection ended if it ended first.
    func frames(until isLast: (Frame) -> Bool) throws -> [Frame] {
        var frames: [Frame] = []
        while let frame = try nextFrame() {
            frames.append(frame)
            if isLast(frame) { break }
        }
        return frames
    }

    private func next(_ isWanted: (Frame) -> Bool) throws -> Frame {
        guard let last = try frames(until: isWanted).last, isWanted(last) else { throw POSIXError(.ECONNRESET) }
        return last
    }

    private func nextFrame() throws -> Frame? {
        while true {
            if let frame = try parser.parseFrame(from: &unread) { return frame }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = read(fd, &chunk, chunk.count)
            guard n > 0 else { return nil }
            unread.writeBytes(chunk[..<n])
        }
    }

    private func write(_ bytes: [UInt8]) throws {
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw POSIXError(.EPIPE) }
    }
}

extension Frame {
    /// What a differential test compares: the method, with a close's code and text.
    var answer: String {
        switch self {
        case .method(let channel, .connection(.close(let close))):
            "\(channel) connection.close \(close.replyCode.rawValue) \(close.replyText)"
        case .method(let channel, .channel(.close(let close))):
            "\(channel) channel.close \(close.replyCode.rawValue) \(close.replyText)"
        case .method(let channel, let method):
            "\(channel) \(method.name)"
        case .header(let channel, _):
            "\(channel) header"
        case .body(let channel, _):
            "\(channel) body"
        case .heartbeat:
            "heartbeat"
        }
    }
}
