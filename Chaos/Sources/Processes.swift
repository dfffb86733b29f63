import Glibc

/// Starting and reaping child processes with posix_spawn: the harness ends only processes it
/// started, by the pid it got here.
enum Processes {
    struct SpawnError: Error, CustomStringConvertible {
        var command: [String]
        var errno: Int32
        var description: String { "cannot start \(command.joined(separator: " ")): \(String(cString: strerror(errno)))" }
    }

    /// Starts `command` (looked up in PATH) with stdin from /dev/null and stdout and stderr
    /// appended to `logPath`.
    static func spawn(_ command: [String], logPath: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var arguments: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, command[0], &actions, nil, &arguments, environ)
        guard result == 0 else { throw SpawnError(command: command, errno: result) }
        return pid
    }

    /// Runs `command` to its end; returns its exit status (128 + signal when killed).
    @discardableResult
    static func run(_ command: [String], logPath: String) throws -> Int32 {
        let pid = try spawn(command, logPath: logPath)
        return waitForExit(pid)
    }

    static func waitForExit(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { return -1 }
        }
        return exitCode(status)
    }

    /// The exit status if `pid` has ended (and reaps it), nil while it runs.
    static func exitStatusIfEnded(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == 0 { return nil }
        return result == pid ? exitCode(status) : -1
    }

    private static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

/// Appends `text` to the file at `path`, creating it.
func appendToFile(_ path: String, _ text: String) {
    guard let file = fopen(path, "ab") else { return }
    defer { fclose(file) }
    fputs(text, file)
}

/// Replaces the file at `path` with `text`.
/// Writes `text` to `path`, readable by others unless `secret` (then 0600, as a node
/// requires of its cluster secret).
func writeFile(_ path: String, _ text: String, secret: Bool = false) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, secret ? 0o600 : 0o644)
    guard fd >= 0, !secret || fchmod(fd, 0o600) == 0, let file = fdopen(fd, "wb") else {
        let error = errno
        if fd >= 0 { close(fd) }
        throw Processes.SpawnError(command: ["write", path], errno: error)
    }
    defer { fclose(file) }
    fputs(text, file)
}
