import NIOCore

extension EventLoopFuture where Value: Sendable {
    /// Waits for the future, failing with a `ClientError`.
    func clientValue() async throws(ClientError) -> Value {
        do {
            return try await self.get()
        } catch {
            throw ClientError.wrapping(error)
        }
    }
}
