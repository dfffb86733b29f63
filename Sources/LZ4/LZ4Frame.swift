import CLZ4

/// Why a buffer could not be decoded as exactly one checksummed LZ4 frame.
public enum LZ4FrameError: Error, Equatable, Sendable {
    /// The input ends before the frame does; empty input counts as truncated.
    case truncated
    /// The bytes are not a valid LZ4 frame. Carries liblz4's error name
    /// (for example "ERROR_contentChecksum_invalid") or, for problems this
    /// wrapper finds itself, a short description.
    case corrupt(String)
    /// The frame is valid but has no content checksum, so its contents
    /// cannot be verified; every frame `LZ4Frame.compress` writes has one.
    case missingContentChecksum
    /// The decompressed contents would be larger than the caller's limit.
    case outputLimitExceeded(limit: Int)
    /// A complete frame is followed by `count` more bytes.
    case trailingBytes(count: Int)
    /// liblz4 could not allocate its decompression context.
    case contextAllocationFailed
}

/// The LZ4 frame format (magic 0x184D2204), always with the content checksum
/// on and the content size recorded, so that corruption is detected rather
/// than silently decoded.
public enum LZ4Frame {
    /// How much decompressed data is taken from liblz4 per call; it is also
    /// the most memory decompression uses beyond `maxOutputBytes`.
    static let decompressionChunkSize = 64 * 1024

    // MARK: Compression

    /// Compresses `input` into one LZ4 frame with a content checksum and the content size.
    public static func compress(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        // liblz4 reads 0 as "size unknown", so only an empty input goes without a recorded size.
        preferences.frameInfo.contentSize = UInt64(input.count)

        let capacity = LZ4F_compressFrameBound(input.count, &preferences)
        let destination = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: capacity)
        defer { destination.deallocate() }

        let written = LZ4F_compressFrame(
            destination.baseAddress, capacity, input.baseAddress, input.count, &preferences)
        // With a destination of the bound's size and fixed, valid preferences this
        // can only fail if memory runs out, which Swift treats as fatal anyway.
        precondition(LZ4F_isError(written) == 0, "LZ4F_compressFrame failed: \(errorName(written))")

        // Copy out instead of returning the bound-sized buffer: for compressible
        // input the bound is far larger than the frame, and arrays never shrink.
        return Array(UnsafeBufferPointer(rebasing: destination[..<written]))
    }

    /// Compresses `input` into one LZ4 frame with a content checksum and the content size.
    public static func compress(_ input: some Collection<UInt8>) -> [UInt8] {
        if let frame = input.withContiguousStorageIfAvailable({ compress(UnsafeRawBufferPointer($0)) }) {
            return frame
        }
        return Array(input).withUnsafeBytes { compress($0) }
    }

    // MARK: Decompression

    /// Decompresses `frame`, which must be exactly one LZ4 frame carrying a
    /// content checksum, and returns at most `maxOutputBytes` bytes.
    ///
    /// Throws instead of returning anything unverified: on truncated, corrupt
    /// or unchecksummed input, on bytes after the frame, and as soon as the
    /// output would exceed `maxOutputBytes`, so memory use stays bounded by
    /// that limit whatever the input claims.
    public static func decompress(
        _ frame: UnsafeRawBufferPointer, maxOutputBytes: Int
    ) throws(LZ4FrameError) -> [UInt8] {
        precondition(maxOutputBytes >= 0, "maxOutputBytes must not be negative")

        // liblz4 needs this many bytes before it can tell how long the header is.
        guard let start = frame.baseAddress, frame.count >= Int(LZ4F_MIN_SIZE_TO_KNOW_HEADER_LENGTH) else {
            throw .truncated
        }
        let headerSize = LZ4F_headerSize(start, frame.count)
        try check(headerSize)
        guard frame.count >= headerSize else { throw .truncated }

        var context: OpaquePointer?
        guard LZ4F_isError(LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))) == 0,
              let context
        else { throw .contextAllocationFailed }
        defer { LZ4F_freeDecompressionContext(context) }

        // Read the header first so that policy is enforced before any block is decoded.
        var info = LZ4F_frameInfo_t()
        var position = frame.count  // in: bytes available; out: header bytes consumed
        try check(LZ4F_getFrameInfo(context, &info, start, &position))
        guard info.frameType == LZ4F_frame else {
            throw .corrupt("skippable frame where an LZ4 frame was expected")
        }
        guard info.contentChecksumFlag == LZ4F_contentChecksumEnabled else {
            throw .missingContentChecksum
        }
        guard info.contentSize <= UInt64(maxOutputBytes) else {
            throw .outputLimitExceeded(limit: maxOutputBytes)
        }

        var output: [UInt8] = []
        // The declared size is not verified until the end, so reserve no more than
        // LZ4's best ratio (under 256:1) could really produce from this input.
        let (plausibleSize, overflow) = frame.count.multipliedReportingOverflow(by: 256)
        output.reserveCapacity(overflow ? Int(info.contentSize) : min(Int(info.contentSize), plausibleSize))

        let chunk = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: decompressionChunkSize)
        defer { chunk.deallocate() }

        while true {
            var consumed = frame.count - position  // in: bytes available; out: bytes used
            var produced = chunk.count  // in: room in chunk; out: bytes written
            let hint = LZ4F_decompress(context, chunk.baseAddress, &produced, start + position, &consumed, nil)
            try check(hint)
            position += consumed

            guard produced <= maxOutputBytes - output.count else {
                throw .outputLimitExceeded(limit: maxOutputBytes)
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[..<produced]))

            // 0 means the end mark was read, the content checksum matched and
            // everything has been flushed.
            if hint == 0 { break }
            // Otherwise liblz4 wants more input. Every call that has input or
            // buffered output makes progress, so a call that made none means the
            // input ran out mid-frame; this also guarantees the loop ends.
            if consumed == 0 && produced == 0 {
                guard position == frame.count else { throw .corrupt("decoder made no progress") }
                throw .truncated
            }
        }

        guard position == frame.count else { throw .trailingBytes(count: frame.count - position) }
        // liblz4 checks this too; a declared size of 0 means "not recorded".
        guard info.contentSize == 0 || info.contentSize == UInt64(output.count) else {
            throw .corrupt("decoded size differs from the size in the frame header")
        }
        return output
    }

    /// Decompresses `frame`, which must be exactly one LZ4 frame carrying a
    /// content checksum, and returns at most `maxOutputBytes` bytes.
    public static func decompress(
        _ frame: some Collection<UInt8>, maxOutputBytes: Int
    ) throws(LZ4FrameError) -> [UInt8] {
        // The closures below are not typed-throws aware, so the error travels in a Result.
        let decode = { (bytes: UnsafeRawBufferPointer) in
            Result { () throws(LZ4FrameError) in try decompress(bytes, maxOutputBytes: maxOutputBytes) }
        }
        if let result = frame.withContiguousStorageIfAvailable({ decode(UnsafeRawBufferPointer($0)) }) {
            return try result.get()
        }
        return try Array(frame).withUnsafeBytes(decode).get()
    }

    // MARK: liblz4 results

    /// Turns a liblz4 error code into `.corrupt`, carrying liblz4's name for it.
    private static func check(_ result: Int) throws(LZ4FrameError) {
        if LZ4F_isError(result) != 0 { throw .corrupt(errorName(result)) }
    }

    private static func errorName(_ result: Int) -> String {
        String(cString: LZ4F_getErrorName(result))
    }
}
