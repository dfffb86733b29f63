import Glibc
import Log
import Raft
import XCTest

@testable import berth_chaos

/// The harness's damage to a stopped node's log must be the kind recovery refuses, and it
/// must know which record it hit: the node's error names that file and offset.
final class LogCorruptionTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = "/tmp/berth-chaos-corruption-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        XCTAssertEqual(mkdir(directory, 0o755), 0)
    }

    override func tearDownWithError() throws {
        _ = try Processes.run(["rm", "-rf", directory], logPath: "/dev/null")
    }

    /// A log of `count` entries in segments of at most `segmentBytesMax`, closed.
    private func writeLog(entries count: Int, segmentBytesMax: Int, under directory: String) throws {
        var options = DurableStorage.Options()
        options.segmentBytesMax = segmentBytesMax
        let (storage, _) = try DurableStorage.open(dataDirectory: directory, groupID: 1, options: options)
        let entries = (1...count).map { Entry(term: 1, index: LogIndex($0), data: Array(repeating: UInt8($0 % 251), count: 100 + $0 % 50)) }
        try storage.append(entries)
        try storage.sync()
        try storage.close()
    }

    private func recoveryError(segmentBytesMax: Int, under directory: String) -> LogError? {
        var options = DurableStorage.Options()
        options.segmentBytesMax = segmentBytesMax
        do throws(LogError) {
            let (storage, _) = try DurableStorage.open(dataDirectory: directory, groupID: 1, options: options)
            try? storage.close()
            return nil
        } catch {
            return error
        }
    }

    func testRecoveryRefusesTheFlippedRecordNamingTheFileAndOffsetTheHarnessReports() throws {
        for seed in UInt64(1)...8 {
            let directory = self.directory + "/seed-\(seed)"
            try writeLog(entries: 40, segmentBytesMax: 2048, under: directory)
            var random = berth_chaos.SeededGenerator(seed: seed)
            let flipped = try LogCorruption.flipByte(under: directory, random: &random)
            guard case .corruptRecord(let path, let offset, _)? = recoveryError(segmentBytesMax: 2048, under: directory) else {
                return XCTFail("seed \(seed): recovery did not refuse \(flipped)")
            }
            XCTAssertEqual(path, flipped.path, "seed \(seed)")
            XCTAssertEqual(offset, flipped.recordOffset, "seed \(seed)")
            XCTAssertTrue(LogError.corruptRecord(path: path, offset: offset, reason: "").description.contains("\(flipped.fileName) at offset \(flipped.recordOffset)"))
        }
    }

    func testTheRecordChosenIsNeverTheLastOneWhichWouldPassForATornTail() throws {
        try writeLog(entries: 2, segmentBytesMax: 1 << 20, under: directory)
        let segment = try XCTUnwrap(LogCorruption.findFiles(under: directory) { $0.hasSuffix(".seg") }.first)
        let offsets = try LogCorruption.recordOffsets(segment)
        XCTAssertEqual(offsets.count, 2)
        XCTAssertEqual(try LogCorruption.candidates(under: directory).map(\.offset), [offsets[0]], "only the first of two records may be damaged")
        var random = berth_chaos.SeededGenerator(seed: 7)
        let flipped = try LogCorruption.flipByte(under: directory, random: &random)
        XCTAssertEqual(flipped.recordOffset, offsets[0])
    }

    func testALogOfOneRecordHasNothingToDamage() throws {
        try writeLog(entries: 1, segmentBytesMax: 1 << 20, under: directory)
        var random = berth_chaos.SeededGenerator(seed: 1)
        XCTAssertThrowsError(try LogCorruption.flipByte(under: directory, random: &random))
        XCTAssertNil(recoveryError(segmentBytesMax: 1 << 20, under: directory), "the log was left as it was")
    }
}
