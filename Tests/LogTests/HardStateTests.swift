import Raft
import XCTest

@testable import Log

/// The hard state file: atomic replacement, when `DurableStorage` writes it, and damage.
final class HardStateTests: LogTestCase {
    private var hardStatePath: String { groupDirectory + "/hardstate" }

    private func storedHardState() throws(LogError) -> HardState {
        try HardStateFile.read(directory: groupDirectory)
    }

    func testAtomicWriteRoundTrip() throws {
        try FileSystem.createDirectory(root)
        try FileSystem.createDirectory(groupDirectory)
        XCTAssertEqual(try storedHardState(), HardState(), "no file: the initial hard state")
        for state in [HardState(term: 1, vote: nil, commit: 0), HardState(term: 7, vote: 3, commit: 12), HardState(term: .max - 1, vote: .max, commit: .max)] {
            try HardStateFile.write(state, directory: groupDirectory)
            XCTAssertEqual(try storedHardState(), state)
            XCTAssertEqual(Disk.size(hardStatePath), 29)
            XCTAssertEqual(Disk.list(groupDirectory), ["hardstate"], "no temporary file left behind")
        }
    }

    func testTermOrVoteChangeIsWrittenAtSync() throws {
        let (storage, _) = try openStorage()
        try storage.setHardState(HardState(term: 5, vote: nil, commit: 0))
        XCTAssertFalse(Disk.exists(hardStatePath), "nothing is written before sync")
        try storage.sync()
        XCTAssertEqual(try storedHardState(), HardState(term: 5, vote: nil, commit: 0))

        try storage.setHardState(HardState(term: 5, vote: 3, commit: 0))
        XCTAssertNil(try storedHardState().vote, "not written before sync")
        try storage.sync()
        XCTAssertEqual(try storedHardState(), HardState(term: 5, vote: 3, commit: 0))

        // A new term carries the latest commit index with it.
        try storage.setHardState(HardState(term: 6, vote: nil, commit: 4))
        try storage.sync()
        XCTAssertEqual(try storedHardState(), HardState(term: 6, vote: nil, commit: 4))
        let (_, recovery) = try openStorage()
        XCTAssertEqual(recovery.state.hardState, HardState(term: 6, vote: nil, commit: 4))
    }

    func testCommitOnlyChangeIsWrittenAtCloseNotAtSync() throws {
        let (storage, _) = try openStorage()
        try storage.append(makeEntries(1...20, term: 2, seed: 50))
        try storage.setHardState(HardState(term: 2, vote: 1, commit: 0))
        try storage.sync()
        try storage.setHardState(HardState(term: 2, vote: 1, commit: 15))
        try storage.sync()
        XCTAssertEqual(try storedHardState(), HardState(term: 2, vote: 1, commit: 0), "the commit index lags after sync")
        do {
            let (_, recovery) = try openStorage()  // as after a crash here
            XCTAssertEqual(recovery.state.hardState.commit, 0)
        }
        try storage.close()
        XCTAssertEqual(try storedHardState(), HardState(term: 2, vote: 1, commit: 15))
        let (_, recovery) = try openStorage()
        XCTAssertEqual(recovery.state.hardState, HardState(term: 2, vote: 1, commit: 15))
    }

    func testCorruptHardStateFileStopsOpenNamingIt() throws {
        let (storage, _) = try openStorage()
        try storage.setHardState(HardState(term: 3, vote: 2, commit: 1))
        try storage.close()
        for damage in [{ Disk.flipByte(self.hardStatePath, at: 10) }, { Disk.truncate(self.hardStatePath, to: 20) }] {
            let intact = Disk.read(hardStatePath)
            damage()
            let error = logError { () throws(LogError) in _ = try self.openStorage() }
            guard case .corruptFile(let path, _) = error else { return XCTFail("expected corruptFile, got \(String(describing: error))") }
            XCTAssertEqual(path, hardStatePath)
            Disk.write(intact, to: hardStatePath)
        }
        let (_, recovery) = try openStorage()
        XCTAssertEqual(recovery.state.hardState, HardState(term: 3, vote: 2, commit: 1))
    }
}
