/// Rules of the shortstr type.
public enum ShortString {
    /// A shortstr's length is one octet.
    public static let byteCountMax = 255

    /// A reply text we make ourselves, made to fit a shortstr as RabbitMQ does: one longer
    /// than 255 bytes of UTF-8 keeps its first 252 (cut on a character boundary) and ends
    /// with "...", so that a client can tell it was cut.
    public static func replyText(_ string: String) -> String {
        guard string.utf8.count > byteCountMax else { return string }
        let ellipsis = "..."
        var result = ""
        var byteCount = 0
        for character in string {
            let characterByteCount = character.utf8.count
            guard byteCount + characterByteCount <= byteCountMax - ellipsis.utf8.count else { break }
            result.append(character)
            byteCount += characterByteCount
        }
        return result + ellipsis
    }
}
