/// A user name and password, sent with SASL PLAIN.
public struct Credentials: Hashable, Sendable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// RabbitMQ's default user, `guest`/`guest` (usable from loopback only).
    public static let guest = Credentials(username: "guest", password: "guest")

    /// The SASL PLAIN response: NUL, user name, NUL, password.
    var plainResponse: [UInt8] {
        [0] + Array(self.username.utf8) + [0] + Array(self.password.utf8)
    }
}
