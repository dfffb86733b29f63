// A stream's log in a snapshot (format version 5, after the stream's messages): its first
// and next offsets, its live chunks (first offset, first id, timestamp, count) and its
// segments (first offset, record bytes).
extension ByteWriter {
    mutating func streamLog(_ log: StreamLog) {
        let parts = log.parts
        signed(parts.firstOffset)
        signed(parts.nextOffset)
        array(parts.chunks) { w, chunk in
            w.signed(chunk.firstOffset)
            w.varint(chunk.firstID)
            w.signed(chunk.timestamp)
            w.count(chunk.count)  // a quantity, not a count of what follows (ByteReader.quantity)
        }
        array(parts.segments) { w, segment in
            w.signed(segment.firstOffset)
            w.count(segment.recordBytes)
        }
    }
}

extension ByteReader {
    /// A stream's log that must describe `queue`'s messages.
    mutating func streamLog(for queue: Queue, limits: BrokerLimits) throws(BrokerCodecError) -> StreamLog {
        let at = offset
        let firstOffset = try signed()
        let nextOffset = try signed()
        var chunks: [StreamLog.Chunk] = []
        for _ in 0..<(try count(minimumBytes: 4, max: limits.queueMessagesMax)) {
            let chunk = StreamLog.Chunk(firstOffset: try signed(), firstID: try varint(), timestamp: try signed(), count: try quantity(max: limits.queueMessagesMax))
            chunks.append(chunk)
        }
        var segments: [StreamLog.Segment] = []
        for _ in 0..<(try count(minimumBytes: 2, max: limits.queueMessagesMax)) {
            segments.append(StreamLog.Segment(firstOffset: try signed(), recordBytes: try quantity(max: Int(Int64.max))))
        }
        guard let log = StreamLog(firstOffset: firstOffset, nextOffset: nextOffset, chunks: chunks, segments: segments),
            log.count == queue.messageCount, log.recordBytes == queue.recordBytes,
            chunks.allSatisfy({ $0.firstOffset < firstOffset || queue.message($0.firstID) != nil })
        else { throw .invalidValue("the stream log of \(queue.name) does not fit its messages", offset: at) }
        return log
    }
}
