import Raft

/// The binary form of a Raft `Message`: from u64, to u64, term u64, a body tag u8, then the
/// body's fields in declaration order. Entries are term u64, index u64, kind u8, data.
enum RaftMessageCoding {
    /// from, to, term and the tag: the least a message takes.
    static let messageBytesMin = 25

    private enum Tag: UInt8 {
        case preVote = 1, preVoteResponse, vote, voteResponse, append, appendResponse, heartbeat, heartbeatResponse,
            snapshotChunk, snapshotResponse, timeoutNow, readIndex, readIndexResponse
    }

    /// About the bytes `encode` writes (a membership may take more): room to reserve first.
    static func encodedBytesEstimate(_ message: Message) -> Int {
        switch message.body {
        case .append(_, _, let entries, _):
            return 64 + entries.reduce(0) { $0 + 32 + $1.data.count }
        case .snapshotChunk(let chunk):
            return 256 + chunk.bytes.count
        default:
            return 64
        }
    }

    static func encode(_ message: Message, into writer: inout WireWriter) {
        writer.u64(message.from)
        writer.u64(message.to)
        writer.u64(message.term)
        switch message.body {
        case .preVote(let lastIndex, let lastTerm):
            writer.u8(Tag.preVote.rawValue)
            writer.u64(lastIndex)
            writer.u64(lastTerm)
        case .preVoteResponse(let granted):
            writer.u8(Tag.preVoteResponse.rawValue)
            writer.bool(granted)
        case .vote(let lastIndex, let lastTerm, let transfer):
            writer.u8(Tag.vote.rawValue)
            writer.u64(lastIndex)
            writer.u64(lastTerm)
            writer.bool(transfer)
        case .voteResponse(let granted):
            writer.u8(Tag.voteResponse.rawValue)
            writer.bool(granted)
        case .append(let prevIndex, let prevTerm, let entries, let commit):
            writer.u8(Tag.append.rawValue)
            writer.u64(prevIndex)
            writer.u64(prevTerm)
            writer.u64(commit)
            writer.u32(UInt32(entries.count))
            for entry in entries {
                writer.u64(entry.term)
                writer.u64(entry.index)
                writer.u8(entry.kind.rawValue)
                writer.blob(entry.data)
            }
        case .appendResponse(.success(let match)):
            writer.u8(Tag.appendResponse.rawValue)
            writer.u8(0)
            writer.u64(match)
        case .appendResponse(.reject(let rejected, let hintIndex, let hintTerm)):
            writer.u8(Tag.appendResponse.rawValue)
            writer.u8(1)
            writer.u64(rejected)
            writer.u64(hintIndex)
            writer.u64(hintTerm)
        case .heartbeat(let commit, let context):
            writer.u8(Tag.heartbeat.rawValue)
            writer.u64(commit)
            writer.u64(context)
        case .heartbeatResponse(let context):
            writer.u8(Tag.heartbeatResponse.rawValue)
            writer.u64(context)
        case .snapshotChunk(let chunk):
            precondition(!chunk.needsBytes, "a snapshot chunk left without its bytes: the shell fills them in before sending")
            writer.u8(Tag.snapshotChunk.rawValue)
            writer.u64(chunk.metadata.index)
            writer.u64(chunk.metadata.term)
            writer.blob(chunk.metadata.membership.encoded())
            writer.u64(UInt64(chunk.totalBytes))
            writer.u64(UInt64(chunk.offset))
            writer.blob(chunk.bytes)
        case .snapshotResponse(let index, let received):
            writer.u8(Tag.snapshotResponse.rawValue)
            writer.u64(index)
            writer.u64(UInt64(received))
        case .timeoutNow:
            writer.u8(Tag.timeoutNow.rawValue)
        case .readIndex(let id):
            writer.u8(Tag.readIndex.rawValue)
            writer.u64(id)
        case .readIndexResponse(let id, let index):
            writer.u8(Tag.readIndexResponse.rawValue)
            writer.u64(id)
            writer.u64(index)
        }
    }

    static func decode(_ reader: inout WireReader, limits: PeerWireLimits) throws(PeerWireError) -> Message {
        let from = try reader.u64()
        let to = try reader.u64()
        let term = try reader.u64()
        let tagByte = try reader.u8()
        guard let tag = Tag(rawValue: tagByte) else { throw .invalid("unknown Raft message tag \(tagByte)") }
        let body: Message.Body
        switch tag {
        case .preVote:
            body = .preVote(lastIndex: try reader.u64(), lastTerm: try reader.u64())
        case .preVoteResponse:
            body = .preVoteResponse(granted: try reader.bool())
        case .vote:
            body = .vote(lastIndex: try reader.u64(), lastTerm: try reader.u64(), leadershipTransfer: try reader.bool())
        case .voteResponse:
            body = .voteResponse(granted: try reader.bool())
        case .append:
            let prevIndex = try reader.u64()
            let prevTerm = try reader.u64()
            let commit = try reader.u64()
            let count = try reader.count(max: limits.entriesPerMessageMax, itemBytesMin: 21)
            var entries: [Entry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count {
                let entryTerm = try reader.u64()
                let index = try reader.u64()
                let kindByte = try reader.u8()
                guard let kind = Entry.Kind(rawValue: kindByte) else { throw .invalid("unknown entry kind \(kindByte)") }
                entries.append(Entry(term: entryTerm, index: index, kind: kind, data: try reader.blob(max: limits.entryBytesMax)))
            }
            body = .append(prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: commit)
        case .appendResponse:
            switch try reader.u8() {
            case 0: body = .appendResponse(.success(matchIndex: try reader.u64()))
            case 1: body = .appendResponse(.reject(rejectedIndex: try reader.u64(), hintIndex: try reader.u64(), hintTerm: try reader.u64()))
            case let other: throw .invalid("unknown append response \(other)")
            }
        case .heartbeat:
            body = .heartbeat(commit: try reader.u64(), readContext: try reader.u64())
        case .heartbeatResponse:
            body = .heartbeatResponse(readContext: try reader.u64())
        case .snapshotChunk:
            let index = try reader.u64()
            let snapshotTerm = try reader.u64()
            guard let membership = Membership(encoded: try reader.blob(max: limits.membershipBytesMax)) else {
                throw .invalid("membership does not decode")
            }
            let total = try reader.u64()
            let offset = try reader.u64()
            let bytes = try reader.blob(max: limits.snapshotChunkBytesMax)
            guard total <= UInt64(Int.max), offset <= total, UInt64(bytes.count) <= total - offset else {
                throw .invalid("snapshot chunk at \(offset)+\(bytes.count) of \(total)")
            }
            let metadata = SnapshotMetadata(index: index, term: snapshotTerm, membership: membership)
            body = .snapshotChunk(SnapshotChunk(metadata: metadata, totalBytes: Int(total), offset: Int(offset), bytes: bytes))
        case .snapshotResponse:
            let index = try reader.u64()
            let received = try reader.u64()
            guard received <= UInt64(Int.max) else { throw .invalid("received \(received) bytes") }
            body = .snapshotResponse(index: index, receivedBytes: Int(received))
        case .timeoutNow:
            body = .timeoutNow
        case .readIndex:
            body = .readIndex(requestID: try reader.u64())
        case .readIndexResponse:
            body = .readIndexResponse(requestID: try reader.u64(), index: try reader.u64())
        }
        return Message(from: from, to: to, term: term, body: body)
    }
}
