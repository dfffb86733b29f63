/// Rules of the shortstr type.
enum ShortString {
    /// A shortstr's length is one octet.
    static let byteCountMax = 255

    /// `string` cut to at most 255 bytes of UTF-8 on a character boundary, for texts we
    /// make ourselves (reply texts) and must always be able to send.
    static func truncated(_ string: String) -> String {
        guard string.utf8.count > Self.byteCountMax else {
            return string
        }
        var result = ""
        var byteCount = 0
        for character in string {
            let characterByteCount = character.utf8.count
            guard byteCount + characterByteCount <= Self.byteCountMax else {
                break
            }
            result.append(character)
            byteCount += characterByteCount
        }
        return result
    }
}
