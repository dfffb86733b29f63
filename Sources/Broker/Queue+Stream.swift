// A stream's messages by offset: appending, finding a reader's place, retention.
extension Queue {
    /// Appends a message to a stream at the leader's `timestamp`; returns it as stored and its offset.
    mutating func appendToStream(
        id: MessageID, recordBytes: Int, bodyBytes: Int, at timestamp: Int64, storeSegmentBytes: Int
    ) -> (message: QueuedMessage, offset: Int64) {
        guard let segmentBytes = settings.stream?.segmentBytes, stream != nil else { preconditionFailure("\(name) is not a stream") }
        let message = append(
            id: id, recordBytes: recordBytes, bodyBytes: bodyBytes, expiresAt: nil, priority: 0, segmentBytes: storeSegmentBytes)
        let offset = stream?.append(id: id, recordBytes: recordBytes, at: timestamp, segmentBytes: segmentBytes) ?? 0
        return (message, offset)
    }

    /// The message of a stream at `offset`, if held.
    public func streamMessage(at offset: Int64) -> QueuedMessage? {
        guard let place = stream?.place(of: offset) else { return nil }
        let run = messages(priority: 0, atOrAfter: place.fromID, limit: place.skip + 1)
        return run.count == place.skip + 1 ? run.last : nil
    }
}
