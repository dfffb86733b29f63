import Client
import Glibc
import NIOCore
import Node
import XCTest

/// What a node keeps on disk is its owner's alone, and it refuses a cluster secret that is
/// not.
final class FilePermissionTests: XCTestCase {
    private var cluster: LocalCluster!

    override func setUp() {
        cluster = LocalCluster(name: "permissions")
    }

    override func tearDown() async throws {
        try await cluster.tearDown()
    }

    func testASecretOthersCanReadIsRefusedAndAPrivateOneIsRead() throws {
        mkdir(cluster.root, 0o700)
        let path = cluster.root + "/cluster-secret"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        _ = "s3cret\n\n".withCString { write(fd, $0, 8) }
        close(fd)

        XCTAssertEqual(try SecretFile.read(path), Array("s3cret".utf8))
        for mode: mode_t in [0o640, 0o604, 0o620, 0o644] {
            chmod(path, mode)
            XCTAssertThrowsError(try SecretFile.read(path), "mode \(String(mode, radix: 8))") { error in
                XCTAssertEqual(error as? SecretFile.Refusal, .exposed(path: path, mode: S_IFREG | mode))
                XCTAssertTrue("\(error)".contains("chmod 600 \(path)"), "\(error)")
            }
        }
        chmod(path, 0o400)
        XCTAssertEqual(try SecretFile.read(path), Array("s3cret".utf8), "read-only for its owner will do")
        XCTAssertThrowsError(try SecretFile.read(cluster.root + "/missing")) { error in
            XCTAssertEqual(error as? SecretFile.Refusal, .unreadable(path: cluster.root + "/missing", errno: ENOENT))
        }
    }

    /// After a node has stored a message and taken a snapshot, every directory under its
    /// data directory is 0700 and every file 0600.
    func testEveryDirectoryAndFileANodeWritesIsItsOwnersAlone() async throws {
        let node = try await cluster.startLone()
        let connection = try await cluster.connect([node])
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("kept", durable: true)
        try await channel.confirmSelect()
        try await channel.publish(routingKey: "kept", body: ByteBuffer(string: "body")).confirmed()
        await connection.close()
        try await node.shutdown()

        var checked = 0
        func walk(_ path: String) {
            var info = stat()
            guard lstat(path, &info) == 0 else { return XCTFail("cannot stat \(path)") }
            let isDirectory = info.st_mode & S_IFMT == S_IFDIR
            XCTAssertEqual(info.st_mode & 0o777, isDirectory ? 0o700 : 0o600, path)
            checked += 1
            guard isDirectory, let directory = opendir(path) else { return }
            defer { closedir(directory) }
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != ".", name != ".." { walk(path + "/" + name) }
            }
        }
        walk(cluster.root + "/lone")
        XCTAssertGreaterThan(checked, 5, "the data directory, its group directory, log, store and identity files")
    }
}
