/// The SASL responses of connection.start-ok.
public enum Credentials {
    /// PLAIN: `[authzid] NUL user NUL password`; AMQPLAIN: the entries of a field table
    /// (LOGIN and PASSWORD, long strings) without its length prefix.
    public static func parse(mechanism: String, response: [UInt8]) -> (name: String, password: String)? {
        switch mechanism {
        case "PLAIN":
            let parts = response.split(separator: 0, omittingEmptySubsequences: false)
            guard parts.count == 3 else { return nil }
            return (String(decoding: parts[1], as: UTF8.self), String(decoding: parts[2], as: UTF8.self))
        case "AMQPLAIN":
            var fields: [String: String] = [:]
            var offset = 0
            while offset < response.count {
                let nameLength = Int(response[offset])
                guard offset + 1 + nameLength + 5 <= response.count else { return nil }
                let name = String(decoding: response[offset + 1..<offset + 1 + nameLength], as: UTF8.self)
                offset += 1 + nameLength
                guard response[offset] == UInt8(ascii: "S") else { return nil }
                let length = response[offset + 1..<offset + 5].reduce(0) { $0 << 8 | Int($1) }
                offset += 5
                guard offset + length <= response.count else { return nil }
                fields[name] = String(decoding: response[offset..<offset + length], as: UTF8.self)
                offset += length
            }
            guard let name = fields["LOGIN"], let password = fields["PASSWORD"] else { return nil }
            return (name, password)
        default:
            return nil
        }
    }
}
