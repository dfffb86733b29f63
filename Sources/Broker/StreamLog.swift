/// A stream's offsets and timestamps, kept beside its messages. The queue's one run holds
/// the messages in offset order and only ever loses them from the head (retention, purge),
/// so a message's offset follows from its place: the n-th message held has offset
/// `firstOffset + n`. What is kept per message is its 40-byte `QueuedMessage`; the log adds
/// an entry per chunk and per segment.
///
/// A chunk is a run of messages appended with the same leader timestamp (one enqueue
/// command's, or several applied within one millisecond), at most `chunkMessagesMax`; they
/// share that timestamp, as the messages of a RabbitMQ chunk do. Timestamps never go back:
/// a chunk takes the later of the leader's clock and the chunk before's (a new leader's
/// clock may lag). A segment is a run of chunks of at least `segmentBytes` record bytes
/// (the newest one may be short); retention removes whole segments from the head.
public struct StreamLog: Sendable {
    /// Messages per chunk. Chunk boundaries decide `last` and timestamp offsets, so every
    /// replica must use the same value: it is a constant of the format, not a setting.
    public static let chunkMessagesMax = 1_024

    struct Chunk: Equatable, Sendable {
        var firstOffset: Int64
        /// The id of its first message as appended; it may have left since (head removal).
        var firstID: MessageID
        var timestamp: Int64
        var count: Int
    }

    struct Segment: Equatable, Sendable {
        var firstOffset: Int64
        /// Of the messages still held.
        var recordBytes: Int
    }

    /// Oldest first; those before `chunkHead` are gone (compacted away now and then).
    private var chunks: [Chunk] = []
    private var chunkHead = 0
    /// Oldest first; never empty while a message is held.
    private(set) var segments: [Segment] = []
    /// The offset of the oldest message held (`nextOffset` when none is).
    public private(set) var firstOffset: Int64 = 0
    /// The offset the next message appended gets.
    public private(set) var nextOffset: Int64 = 0

    public init() {}

    /// Messages held.
    public var count: Int { Int(nextOffset - firstOffset) }

    /// The live chunks, oldest first.
    var liveChunks: ArraySlice<Chunk> { chunks[chunkHead...] }

    /// Record bytes held.
    public private(set) var recordBytes = 0

    /// Records the message appended to the stream's run; returns its offset.
    @discardableResult
    mutating func append(id: MessageID, recordBytes: Int, at timestamp: Int64, segmentBytes: Int64) -> Int64 {
        let offset = nextOffset
        nextOffset += 1
        let newSegment = segments.last.map { Int64($0.recordBytes) >= segmentBytes } ?? true
        if newSegment { segments.append(Segment(firstOffset: offset, recordBytes: 0)) }
        segments[segments.count - 1].recordBytes += recordBytes
        self.recordBytes += recordBytes
        if !newSegment, chunkHead < chunks.count, chunks[chunks.count - 1].timestamp >= timestamp,
            chunks[chunks.count - 1].count < Self.chunkMessagesMax
        {
            chunks[chunks.count - 1].count += 1
        } else {
            let after = chunkHead < chunks.count ? chunks[chunks.count - 1].timestamp : timestamp
            chunks.append(Chunk(firstOffset: offset, firstID: id, timestamp: Swift.max(timestamp, after), count: 1))
        }
        return offset
    }

    /// The oldest message left the stream.
    mutating func removedHead(recordBytes: Int) {
        precondition(firstOffset < nextOffset, "a message removed from an empty stream")
        firstOffset += 1
        segments[0].recordBytes -= recordBytes
        self.recordBytes -= recordBytes
        segments[0].firstOffset = firstOffset
        if segments.count > 1, firstOffset >= segments[1].firstOffset || firstOffset == nextOffset {
            segments.removeFirst()
        } else if firstOffset == nextOffset {
            segments.removeAll()
        }
        while chunkHead < chunks.count, chunks[chunkHead].firstOffset + Int64(chunks[chunkHead].count) <= firstOffset { chunkHead += 1 }
        if chunkHead >= 1_024, chunkHead * 2 >= chunks.count {
            chunks.removeFirst(chunkHead)
            chunkHead = 0
        }
    }

    /// Where the message at `offset` lies in the stream's run: the id to search from and
    /// how many held messages from there to skip. Nil for an offset not held.
    func place(of offset: Int64) -> (fromID: MessageID, skip: Int)? {
        guard offset >= firstOffset, offset < nextOffset, let index = chunkIndex(containing: offset) else { return nil }
        let chunk = chunks[index]
        return (chunk.firstID, Int(offset - Swift.max(chunk.firstOffset, firstOffset)))
    }

    /// The timestamp of the message at `offset`, if held.
    public func timestamp(of offset: Int64) -> Int64? {
        guard offset >= firstOffset, offset < nextOffset, let index = chunkIndex(containing: offset) else { return nil }
        return chunks[index].timestamp
    }

    /// The first offset of the newest chunk (`nextOffset` for an empty stream).
    public var lastChunkOffset: Int64 {
        guard chunkHead < chunks.count else { return nextOffset }
        return Swift.max(chunks[chunks.count - 1].firstOffset, firstOffset)
    }

    /// The first offset of the oldest chunk appended at `timestamp` or later; `nextOffset`
    /// if none was.
    public func firstOffset(atOrAfter timestamp: Int64) -> Int64 {
        var low = chunkHead
        var high = chunks.count
        while low < high {
            let mid = (low + high) / 2
            if chunks[mid].timestamp < timestamp { low = mid + 1 } else { high = mid }
        }
        return low < chunks.count ? Swift.max(chunks[low].firstOffset, firstOffset) : nextOffset
    }

    /// Where the oldest segment ends if retention removes it at `now`: never the newest
    /// segment; the oldest goes while the stream holds more than `lengthBytesMax`, or once
    /// its newest message is older than `ageMaxMs`.
    func retentionEnd(_ settings: StreamSettings, at now: Int64) -> Int64? {
        guard segments.count > 1 else { return nil }
        let end = segments[1].firstOffset
        if let max = settings.lengthBytesMax, Int64(recordBytes) > max { return end }
        if let age = settings.ageMaxMs, let newest = timestamp(of: end - 1), newest < now - age { return end }
        return nil
    }

    /// The last live chunk whose first offset is at most `offset`.
    private func chunkIndex(containing offset: Int64) -> Int? {
        var low = chunkHead
        var high = chunks.count
        while low < high {
            let mid = (low + high) / 2
            if chunks[mid].firstOffset <= offset { low = mid + 1 } else { high = mid }
        }
        return low == chunkHead ? (chunkHead < chunks.count ? chunkHead : nil) : low - 1
    }
}

extension StreamLog: Equatable {
    /// Equal when they hold the same offsets, chunks and segments, however compacted.
    public static func == (lhs: StreamLog, rhs: StreamLog) -> Bool {
        lhs.firstOffset == rhs.firstOffset && lhs.nextOffset == rhs.nextOffset && lhs.segments == rhs.segments
            && lhs.liveChunks.elementsEqual(rhs.liveChunks)
    }
}

// Snapshots: the log as written and read back.
extension StreamLog {
    /// The parts a snapshot keeps.
    var parts: (firstOffset: Int64, nextOffset: Int64, chunks: [Chunk], segments: [Segment]) {
        (firstOffset, nextOffset, Array(liveChunks), segments)
    }

    /// A log from a snapshot's parts; nil if they do not fit together.
    init?(firstOffset: Int64, nextOffset: Int64, chunks: [Chunk], segments: [Segment]) {
        guard firstOffset >= 0, firstOffset <= nextOffset else { return nil }
        var expected = firstOffset
        for (index, chunk) in chunks.enumerated() {
            let start = Swift.max(chunk.firstOffset, firstOffset)
            guard chunk.count > 0, chunk.count <= Self.chunkMessagesMax, start == expected, index == 0 || chunk.firstOffset == expected,
                index == 0 || chunk.timestamp >= chunks[index - 1].timestamp
            else { return nil }
            expected = chunk.firstOffset + Int64(chunk.count)
            guard expected > firstOffset else { return nil }
        }
        guard expected == nextOffset || (chunks.isEmpty && firstOffset == nextOffset) else { return nil }
        var segmentStart = firstOffset
        for (index, segment) in segments.enumerated() {
            guard segment.recordBytes > 0, index == 0 ? segment.firstOffset == firstOffset : segment.firstOffset > segmentStart,
                segment.firstOffset < nextOffset
            else { return nil }
            segmentStart = segment.firstOffset
        }
        guard segments.isEmpty == (firstOffset == nextOffset) else { return nil }
        self.firstOffset = firstOffset
        self.nextOffset = nextOffset
        self.chunks = chunks
        self.segments = segments
        recordBytes = segments.reduce(0) { $0 + $1.recordBytes }
    }
}
