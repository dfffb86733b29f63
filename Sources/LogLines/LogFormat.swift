import Logging

/// How a node writes its log to standard error: swift-log's text lines, or JSON lines.
public enum LogFormat: String, CaseIterable, Sendable {
    case text, json

    /// Every logger of the process writes in this format, from `level` up.
    public func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in makeHandler(label: label, level: level) }
    }

    public func makeHandler(label: String, level: Logger.Level) -> any LogHandler {
        switch self {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        case .json:
            return JSONLogHandler(label: label, level: level)
        }
    }
}
