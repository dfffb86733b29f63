/// Why connecting to one host failed.
public struct HostFailure: Hashable, Sendable {
    public var endpoint: Endpoint
    public var error: ClientError

    public init(endpoint: Endpoint, error: ClientError) {
        self.endpoint = endpoint
        self.error = error
    }
}
