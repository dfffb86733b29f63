import ArgumentParser
import Glibc
import Log
import Raft

/// `berth bench log`: how fast the durable log makes entries durable on this disk, next to
/// the disk's own limit, the raw fdatasync rate.
struct LogBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Measure durable log appends against this disk's raw fdatasync rate.",
        discussion: """
            Runs in the current directory, in a scratch directory ./berth-bench-log-<pid> that \
            is removed afterwards. Each round measures, in this order: raw fdatasync (pwrite \
            --entry-bytes at the end of a file, then fdatasync), then DurableStorage appends at \
            each batch size (one append of the batch and one sync per batch: group commit, one \
            fdatasync per batch). Interleaving the configurations round by round spreads the \
            drift of a shared, noisy machine over all of them alike. The table shows the median \
            of the rounds, with the minimum and maximum in parentheses; the last line is the \
            same medians as JSON.

            Every measurement writes a fresh log in its own directory with the default 64 MiB \
            segments, so each round starts alike and disk use stays bounded. A roll-over costs \
            one file creation and one directory fsync per 64 MiB, which the output counts so \
            you can see it is not what is being measured. Each measurement's files are removed, \
            and the removal synced, before the next one starts, so none pays for freeing \
            another's blocks. A measurement also stops early, keeping its rate per elapsed \
            second, after 4 GiB of payload or 50 million syncs.
            """
    )

    @Option(help: "Seconds per measurement (more than 0, at most 60).")
    var seconds: Double = 2

    @Option(help: "Rounds; each runs every configuration once, interleaved (1...50).")
    var rounds: Int = 5

    @Option(help: "Payload bytes per log entry and per raw write (1...1048576).")
    var entryBytes: Int = 1024

    @Option(help: "Distinct entries-per-batch sizes, comma-separated (each 1...65536, at most 8); one sync per batch.")
    var batches: BatchSizes = BatchSizes([1, 64, 1024])

    func validate() throws {
        guard seconds.isFinite, seconds > 0, seconds <= 60 else {
            throw ValidationError("--seconds must be more than 0 and at most 60")
        }
        guard (1...50).contains(rounds) else { throw ValidationError("--rounds must be in 1...50") }
        guard (1...(1 << 20)).contains(entryBytes) else { throw ValidationError("--entry-bytes must be in 1...1048576") }
        // A batch is encoded in memory before it is written.
        let largestBatchBytes = batches.sizes.max()! * entryBytes
        guard largestBatchBytes <= 64 << 20 else {
            throw ValidationError("the largest batch holds \(largestBatchBytes) bytes of payload; at most 64 MiB")
        }
    }

    func run() throws {
        let scratch = ScratchDirectory(name: "berth-bench-log-\(getpid())")
        try scratch.create()
        defer { scratch.remove() }

        let configurations = [Configuration.rawFdatasync] + batches.sizes.map(Configuration.batch)
        let bench = Measurements(
            entryBytes: entryBytes,
            budget: Budget(duration: .seconds(seconds)),
            scratch: scratch
        )
        var samples: [Configuration: [Sample]] = [:]
        for round in 1...rounds {
            for configuration in configurations {
                samples[configuration, default: []].append(try bench.measure(configuration, round: round))
            }
        }
        let report = Report(
            entryBytes: entryBytes,
            seconds: seconds,
            rounds: rounds,
            scratchPath: scratch.absolutePath,
            rows: configurations.map { Row(configuration: $0, samples: samples[$0]!) }
        )
        report.print()
    }
}

/// The `--batches` list: distinct sizes, in the order given.
struct BatchSizes: ExpressibleByArgument {
    let sizes: [Int]

    init(_ sizes: [Int]) { self.sizes = sizes }

    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false)
        var sizes: [Int] = []
        for part in parts {
            guard let size = Int(part.filter { $0 != " " }), (1...65536).contains(size), !sizes.contains(size) else { return nil }
            sizes.append(size)
        }
        guard (1...8).contains(sizes.count) else { return nil }
        self.sizes = sizes
    }

    var defaultValueDescription: String { sizes.map(String.init).joined(separator: ",") }
}

// MARK: - Measuring

enum Configuration: Hashable {
    case rawFdatasync
    case batch(Int)

    var label: String {
        switch self {
        case .rawFdatasync: return "raw fdatasync"
        case .batch(let size): return "batch \(size)"
        }
    }
}

/// When a measurement stops: after its time, or earlier at a cap that keeps a fast disk
/// (or tmpfs, where fdatasync does nothing) from filling up or looping without end.
struct Budget {
    var duration: Duration
    var payloadBytesMax = 4 << 30
    var syncsMax = 50_000_000
}

/// What one measurement did, and in how long.
struct Sample {
    var appends = 0
    var syncs = 0
    var payloadBytes = 0
    var seconds = 0.0
    var stoppedAtCap = false
    /// Segment files the log ended with; 0 for raw fdatasync.
    var segments = 0

    var appendsPerSecond: Double { Double(appends) / seconds }
    var syncsPerSecond: Double { Double(syncs) / seconds }
    /// Payload megabytes (10^6 bytes) per second.
    var megabytesPerSecond: Double { Double(payloadBytes) / 1e6 / seconds }
}

/// One timed step: one sync, and the entries and payload bytes it made durable.
struct Step {
    var appends: Int
    var payloadBytes: Int
}

struct Measurements {
    let entryBytes: Int
    let budget: Budget
    let scratch: ScratchDirectory

    /// One measurement in its own file or directory, removed again at once so that disk use
    /// never exceeds one measurement's worth.
    func measure(_ configuration: Configuration, round: Int) throws -> Sample {
        let path = switch configuration {
        case .rawFdatasync: scratch.path + "/raw-\(round).dat"
        case .batch(let size): scratch.path + "/batch-\(size)-\(round)"
        }
        defer {
            removeTree(path)
            scratch.commitRemovals()
        }
        switch configuration {
        case .rawFdatasync: return try measureRawFdatasync(path: path)
        case .batch(let size): return try measureLogAppends(dataDirectory: path, batchSize: size)
        }
    }

    /// The disk's limit: each step appends `entryBytes` to a file and waits for fdatasync.
    private func measureRawFdatasync(path: String) throws -> Sample {
        let file = try FileHandle(path: path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        let block = [UInt8](repeating: 0xA5, count: entryBytes)
        var end = 0
        func appendAndSync() throws(LogError) -> Step {
            try file.write(block, at: end)
            end += block.count
            try file.syncData()
            return Step(appends: 1, payloadBytes: block.count)
        }
        // Untimed: the first write allocates the file's first block, a cost the log pays once.
        _ = try appendAndSync()
        return try timeSteps(appendAndSync)
    }

    /// Each step appends one batch of entries to a DurableStorage and syncs it.
    private func measureLogAppends(dataDirectory: String, batchSize: Int) throws -> Sample {
        let (storage, _) = try DurableStorage.open(dataDirectory: dataDirectory, groupID: 1)
        // Every entry shares one payload array; only the index differs between batches.
        let payload = [UInt8](repeating: 0xA5, count: entryBytes)
        var batch = (1...batchSize).map { Entry(term: 1, index: LogIndex($0), kind: .normal, data: payload) }
        func appendAndSync() throws(LogError) -> Step {
            try storage.append(batch)
            try storage.sync()
            for position in batch.indices { batch[position].index += LogIndex(batchSize) }
            return Step(appends: batchSize, payloadBytes: batchSize * entryBytes)
        }
        // Untimed: the first sync also creates the first segment and fsyncs the directory.
        _ = try appendAndSync()
        var sample = try timeSteps(appendAndSync)
        sample.segments = try FileSystem.list(storage.log.directory).count { $0.hasPrefix("wal-") && $0.hasSuffix(".seg") }
        return sample
    }

    /// Repeats `step` until the budget's time has passed or a cap is reached; at least once.
    private func timeSteps(_ step: () throws(LogError) -> Step) throws(LogError) -> Sample {
        let clock = ContinuousClock()  // monotonic: immune to wall-clock adjustments
        let start = clock.now
        var sample = Sample()
        var elapsed = Duration.zero
        repeat {
            let done = try step()
            sample.appends += done.appends
            sample.payloadBytes += done.payloadBytes
            sample.syncs += 1
            elapsed = clock.now - start
        } while elapsed < budget.duration && sample.syncs < budget.syncsMax && sample.payloadBytes < budget.payloadBytesMax
        sample.seconds = elapsed.seconds
        sample.stoppedAtCap = elapsed < budget.duration
        return sample
    }
}

private extension Duration {
    var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}

// MARK: - Files

/// The benchmark's own directory in the current directory. Creating it fails if it exists,
/// so that a run never writes into (or removes) anything it did not make.
struct ScratchDirectory {
    let name: String

    var path: String { "./" + name }

    func create() throws(LogError) {
        guard mkdir(path, 0o755) == 0 else { throw .io(operation: "mkdir", path: path, errno: errno) }
    }

    var absolutePath: String {
        guard let cwd = getcwd(nil, 0) else { return path }
        defer { free(cwd) }
        return String(cString: cwd) + "/" + name
    }

    func remove() { removeTree(path) }

    /// Commits the removal of a measurement's files to the journal now, untimed. Otherwise
    /// the next measurement's first fdatasync pays for freeing (and, on a filesystem mounted
    /// with `discard`, discarding) hundreds of megabytes: the raw rate measured after batch
    /// 1024 dropped tenfold.
    func commitRemovals() {
        do throws(LogError) { try FileSystem.syncDirectory(path) } catch { warn("\(error)") }
    }
}

/// Removes a file, or a directory and everything in it, without following symbolic links.
/// Runs from `defer`, so it reports failures instead of throwing them.
func removeTree(_ path: String) {
    var info = stat()
    guard lstat(path, &info) == 0 else {
        if errno != ENOENT { warn("cannot remove \(path): errno \(errno)") }
        return
    }
    if info.st_mode & S_IFMT == S_IFDIR {
        do throws(LogError) {
            for name in try FileSystem.list(path) { removeTree(path + "/" + name) }
        } catch {
            warn("cannot list \(path) to remove it: \(error)")
        }
        if rmdir(path) != 0 { warn("cannot remove \(path): errno \(errno)") }
    } else if unlink(path) != 0 {
        warn("cannot remove \(path): errno \(errno)")
    }
}

private func warn(_ message: String) {
    var line = "berth bench log: " + message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

// MARK: - Reporting

/// The median, minimum and maximum of one quantity over the rounds.
struct Spread {
    let median: Double
    let min: Double
    let max: Double

    init(_ values: [Double]) {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        min = sorted.first!
        max = sorted.last!
    }
}

struct Row {
    let configuration: Configuration
    let appendsPerSecond: Spread
    let megabytesPerSecond: Spread
    let syncsPerSecond: Spread
    let segmentsMax: Int
    let stoppedAtCap: Int

    init(configuration: Configuration, samples: [Sample]) {
        self.configuration = configuration
        appendsPerSecond = Spread(samples.map(\.appendsPerSecond))
        megabytesPerSecond = Spread(samples.map(\.megabytesPerSecond))
        syncsPerSecond = Spread(samples.map(\.syncsPerSecond))
        segmentsMax = samples.map(\.segments).max()!
        stoppedAtCap = samples.count { $0.stoppedAtCap }
    }
}

struct Report {
    let entryBytes: Int
    let seconds: Double
    let rounds: Int
    let scratchPath: String
    let rows: [Row]

    private var raw: Row { rows.first { $0.configuration == .rawFdatasync }! }
    private var batchRows: [Row] { rows.filter { $0.configuration != .rawFdatasync } }

    /// Batch 1 shows what the log adds to each fdatasync; without it, the smallest batch.
    private var comparedRow: (size: Int, row: Row) {
        batchRows.compactMap { row -> (size: Int, row: Row)? in
            guard case .batch(let size) = row.configuration else { return nil }
            return (size, row)
        }.min { $0.size < $1.size }!
    }

    func print() {
        Swift.print("berth bench log: \(sizeText(entryBytes)) entries, \(rounds) round\(rounds == 1 ? "" : "s") x \(trimmed(seconds)) s, medians (min-max)")
        Swift.print("scratch: \(scratchPath) (removed when done)")
        for line in table() { Swift.print(line) }
        Swift.print(comparisonLine())
        for line in notes() { Swift.print(line) }
        Swift.print(json())
    }

    private func table() -> [String] {
        let columns = [
            Column(title: "appends/s", cells: rows.map { $0.configuration == .rawFdatasync ? nil : cell($0.appendsPerSecond, decimals: 0) }),
            Column(title: "MB/s", cells: rows.map { $0.configuration == .rawFdatasync ? nil : cell($0.megabytesPerSecond, decimals: 1) }),
            Column(title: "syncs/s", cells: rows.map { cell($0.syncsPerSecond, decimals: 0) }),
        ]
        let labelWidth = max("configuration".count, rows.map(\.configuration.label.count).max()!)
        var lines = [pad("configuration", labelWidth) + columns.map { "   " + $0.header }.joined()]
        for (index, row) in rows.enumerated() {
            lines.append(pad(row.configuration.label, labelWidth) + columns.map { "   " + $0.line(index) }.joined())
        }
        return lines.map(withoutTrailingSpaces)
    }

    private func cell(_ spread: Spread, decimals: Int) -> (median: String, range: String) {
        (number(spread.median, decimals: decimals), "(" + number(spread.min, decimals: decimals) + "-" + number(spread.max, decimals: decimals) + ")")
    }

    private func comparisonLine() -> String {
        let (size, row) = comparedRow
        let logRate = row.syncsPerSecond.median
        let rawRate = raw.syncsPerSecond.median
        return "batch \(size) syncs/s vs raw fdatasync: \(number(logRate, decimals: 0)) / \(number(rawRate, decimals: 0)) = "
            + "\(number(logRate / rawRate, decimals: 2))x (\(number(1e6 / logRate, decimals: 0)) us vs \(number(1e6 / rawRate, decimals: 0)) us per sync)"
    }

    private func notes() -> [String] {
        var lines = [
            "MB = 10^6 bytes of entry payload (record headers not counted); each batch = one append + one sync (one fdatasync).",
            "each measurement: a fresh log with default 64 MiB segments; at most \(batchRows.map(\.segmentsMax).max()! - 1) roll-over(s) "
                + "in one (each one file creation + one directory fsync).",
        ]
        let capped = rows.map(\.stoppedAtCap).reduce(0, +)
        if capped > 0 {
            lines.append("\(capped) measurement(s) stopped at the 4 GiB payload cap before their time; their rates are per elapsed second.")
        }
        return lines
    }

    /// Every median, one line, for scripts.
    private func json() -> String {
        let batchObjects = batchRows.map { row -> String in
            guard case .batch(let size) = row.configuration else { return "" }
            return "{\"batch\":\(size),\"appends_per_s\":\(jsonNumber(row.appendsPerSecond.median, decimals: 1)),"
                + "\"mb_per_s\":\(jsonNumber(row.megabytesPerSecond.median, decimals: 3)),"
                + "\"syncs_per_s\":\(jsonNumber(row.syncsPerSecond.median, decimals: 1))}"
        }
        let (size, row) = comparedRow
        return "{\"entry_bytes\":\(entryBytes),\"seconds\":\(seconds),\"rounds\":\(rounds),\"mb_bytes\":1000000,"
            + "\"raw_fdatasync_per_s\":\(jsonNumber(raw.syncsPerSecond.median, decimals: 1)),"
            + "\"batches\":[\(batchObjects.joined(separator: ","))],"
            + "\"sync_ratio_vs_raw\":{\"batch\":\(size),\"ratio\":\(jsonNumber(row.syncsPerSecond.median / raw.syncsPerSecond.median, decimals: 3))}}"
    }
}

/// A table column: each cell a median, right-aligned under the title, and its range.
private struct Column {
    let title: String
    /// nil: not applicable, shown as "-".
    let cells: [(median: String, range: String)?]

    private var medianWidth: Int { max(title.count, cells.map { $0?.median.count ?? 1 }.max()!) }
    private var rangeWidth: Int { cells.map { $0?.range.count ?? 0 }.max()! }

    var header: String { pad(title, medianWidth, right: true) + " " + String(repeating: " ", count: rangeWidth) }

    func line(_ index: Int) -> String {
        let (median, range) = cells[index] ?? ("-", "")
        return pad(median, medianWidth, right: true) + " " + pad(range, rangeWidth)
    }
}

private func withoutTrailingSpaces(_ line: String) -> String {
    var line = line
    while line.last == " " { line.removeLast() }
    return line
}

private func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return right ? fill + text : text + fill
}

/// A number with thousands separators and a fixed count of decimals: 12,345.6.
private func number(_ value: Double, decimals: Int) -> String {
    guard value.isFinite else { return "-" }
    var scale = 1
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int((value * Double(scale)).rounded())
    let whole = abs(scaled) / scale
    let fraction = abs(scaled) % scale
    var text = String(whole)
    for position in stride(from: text.count - 3, to: 0, by: -3) {
        text.insert(",", at: text.index(text.startIndex, offsetBy: position))
    }
    if decimals > 0 {
        let digits = String(fraction)
        text += "." + String(repeating: "0", count: decimals - digits.count) + digits
    }
    return (scaled < 0 ? "-" : "") + text
}

/// A JSON number rounded to `decimals`; JSON has no infinity or NaN, so those become null.
private func jsonNumber(_ value: Double, decimals: Int) -> String {
    guard value.isFinite else { return "null" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    return String((value * scale).rounded() / scale)
}

private func sizeText(_ bytes: Int) -> String {
    bytes % 1024 == 0 ? "\(bytes / 1024) KiB" : "\(bytes) B"
}

private func trimmed(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(value)
}
