/// What a finished run leaves in its output directory: the history (`history.jsonl`), the
/// report (`report.txt`, also printed) and the throughput plot (`throughput.svg`).
struct RunReport {
    var seed: UInt64
    var windowCount: Int
    var workloadEndMillis: Int64
    /// The command that replays the run's schedule.
    var replay: String
    var events: [Event]
    var windows: [WindowRecord]
    var verdict: Verdict
    /// Snapshots the nodes installed from a leader during the run.
    var snapshotsInstalled: Int

    /// The table per window, the counts, each violation, the verdict line and the replay command.
    var text: String {
        var report = "seed \(seed), \(windowCount) windows over \(Checker.seconds(workloadEndMillis)) s\n\n"
        report += Checker.table(events, windows: windows) + "\n" + Checker.counts(verdict)
        report += "snapshots installed from a leader: \(snapshotsInstalled)\n"
        for violation in verdict.violations { report += "VIOLATION: \(violation)\n" }
        report += "chaos: \(verdict.passed ? "PASS" : "FAIL") (seed \(seed); lost \(verdict.lost.count), unexpected \(verdict.unexpected.count), order \(verdict.orderViolations.count), violations \(verdict.violations.count)\(verdict.features.map { "; " + $0.summary } ?? ""))\n"
        report += "replay: \(replay)\n"
        return report
    }

    /// Writes the three files into `directory`, then prints the report and where the files are.
    func write(to directory: String) throws {
        let historyPath = directory + "/history.jsonl"
        let plotPath = directory + "/throughput.svg"
        try writeFile(historyPath, events.map(\.jsonLine).joined(separator: "\n") + "\n")
        let report = text
        try writeFile(directory + "/report.txt", report)
        try writeFile(plotPath, ThroughputPlot.svg(events: events, windows: windows, seed: seed))
        say("")
        say(report, terminator: "")
        say("history: \(historyPath)")
        say("plot: \(plotPath)")
    }
}
