import Synchronization
import XCTest

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(self.what)" }
}

/// Polls `condition` every 5 ms until it holds; fails the test and throws when `timeout`
/// passes first.
func eventually(
    _ what: String,
    timeout: Duration = .seconds(5),
    file: StaticString = #filePath,
    line: UInt = #line,
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while try await !condition() {
        guard clock.now < deadline else {
            XCTFail("timed out waiting for \(what)", file: file, line: line)
            throw TimedOut(what: what)
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// Waits for `operation`, but at most `timeout`: then throws `TimedOut` without waiting
/// for it (it may not respond to cancellation).
func withTimeout<Value: Sendable>(
    _ what: String,
    _ timeout: Duration = .seconds(5),
    _ operation: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    let once = Once()
    return try await withCheckedThrowingContinuation { continuation in
        let work = Task {
            do {
                let value = try await operation()
                if once.claim() {
                    continuation.resume(returning: value)
                }
            } catch {
                if once.claim() {
                    continuation.resume(throwing: error)
                }
            }
        }
        Task {
            try? await Task.sleep(for: timeout)
            if once.claim() {
                work.cancel()
                continuation.resume(throwing: TimedOut(what: what))
            }
        }
    }
}

private final class Once: Sendable {
    private let claimed = Mutex(false)

    /// True the first time only.
    func claim() -> Bool {
        self.claimed.withLock { claimed in
            defer { claimed = true }
            return !claimed
        }
    }
}
