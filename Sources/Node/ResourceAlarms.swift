import Glibc
import Gossip
import Logging

/// The node's resource alarms, as RabbitMQ's: resident memory past the high watermark, or
/// free space on the data directory's file system below the limit. While one is set, the
/// connections that publish are blocked (`connection.blocked` to clients that take it, and
/// their sockets are no longer read); consumers go on draining. A disk that refused a write
/// holds the disk alarm until the write has gone through.
struct ResourceAlarms: Equatable, Sendable {
    var memory = false
    var disk = false

    var isSet: Bool { memory || disk }

    /// What `connection.blocked` says, as RabbitMQ words it.
    var reason: String? {
        if memory { return "low on memory" }
        if disk { return "low on disk" }
        return nil
    }

    /// As a gossip record carries them.
    var gossip: SWIM.Alarms {
        var alarms: SWIM.Alarms = []
        if memory { alarms.insert(.memory) }
        if disk { alarms.insert(.disk) }
        return alarms
    }

    /// What blocks publishers on a node: its own alarms and those of the other live members.
    static func blocking(own: ResourceAlarms, members: [SWIM.Alarms]) -> ResourceAlarms {
        let elsewhere = members.reduce(into: SWIM.Alarms()) { $0.formUnion($1) }
        return ResourceAlarms(memory: own.memory || elsewhere.contains(.memory), disk: own.disk || elsewhere.contains(.disk))
    }

    /// The alarms for these readings: `diskRefusedWrite` when a write failed for want of
    /// space and waits to be retried.
    static func judge(
        residentBytes: UInt64, diskFreeBytes: UInt64, diskRefusedWrite: Bool, limits: ResourceLimits
    ) -> ResourceAlarms {
        ResourceAlarms(
            memory: residentBytes > limits.memoryHighWatermarkBytes,
            disk: diskRefusedWrite || diskFreeBytes < limits.diskFreeLimitBytes)
    }
}

/// Where the alarms go off.
public struct ResourceLimits: Equatable, Sendable {
    /// Resident memory past this blocks publishers (RabbitMQ's `vm_memory_high_watermark`).
    public var memoryHighWatermarkBytes: UInt64
    /// Free disk below this blocks publishers (RabbitMQ's `disk_free_limit`).
    public var diskFreeLimitBytes: UInt64

    public init(memoryHighWatermarkBytes: UInt64, diskFreeLimitBytes: UInt64) {
        self.memoryHighWatermarkBytes = memoryHighWatermarkBytes
        self.diskFreeLimitBytes = diskFreeLimitBytes
    }

    /// 40 % of the machine's memory and 2 GiB of disk.
    public static var defaults: ResourceLimits {
        ResourceLimits(memoryHighWatermarkBytes: physicalMemoryBytes / 5 * 2, diskFreeLimitBytes: 2 << 30)
    }

    /// The machine's memory (or this process's cgroup limit, if lower).
    public static var physicalMemoryBytes: UInt64 {
        let machine = UInt64(sysconf(Int32(_SC_PHYS_PAGES))) * UInt64(sysconf(Int32(_SC_PAGESIZE)))
        guard let text = ResourceReadings.smallFile("/sys/fs/cgroup/memory.max"),
            let limit = UInt64(text.split(separator: "\n").first ?? "")
        else { return machine }
        return min(machine, limit)
    }
}

/// What the alarms judge: this process's resident memory and the free space where it keeps
/// its data.
public enum ResourceReadings {
    /// The resident memory of a process (`self`, or a pid); 0 if it cannot be read.
    public static func residentBytes(process: String = "self") -> UInt64 {
        guard let text = smallFile("/proc/\(process)/statm") else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return 0 }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// A file of the kernel's (which reports no size), read whole.
    public static func smallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4_096)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    static func diskFreeBytes(at path: String) -> UInt64 {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return .max }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize)
    }
}

/// Watches the node's memory and disk and raises and clears the alarms; on the core's loop.
final class ResourceMonitor {
    /// How often the readings are taken: a small disk fills within seconds.
    static let intervalMs: Int64 = 100

    private(set) var alarms = ResourceAlarms()
    var limits: ResourceLimits
    /// The last readings.
    private(set) var residentBytes: UInt64 = 0
    private(set) var diskFreeBytes: UInt64 = 0
    private let dataDirectory: String
    private let logger: Logger

    init(limits: ResourceLimits, dataDirectory: String, logger: Logger) {
        self.limits = limits
        self.dataDirectory = dataDirectory
        self.logger = logger
    }

    /// Takes new readings; returns the alarms when they changed.
    func check(diskRefusedWrite: Bool) -> ResourceAlarms? {
        let resident = ResourceReadings.residentBytes()
        let free = ResourceReadings.diskFreeBytes(at: dataDirectory)
        (residentBytes, diskFreeBytes) = (resident, free)
        let next = ResourceAlarms.judge(residentBytes: resident, diskFreeBytes: free, diskRefusedWrite: diskRefusedWrite, limits: limits)
        guard next != alarms else { return nil }
        if next.memory != alarms.memory {
            let metadata: Logger.Metadata = ["resident": "\(resident)", "watermark": "\(limits.memoryHighWatermarkBytes)"]
            if next.memory {
                logger.warning("memory alarm set: resident memory is past the high watermark; publishers are blocked", metadata: metadata)
            } else {
                logger.info("memory alarm cleared", metadata: metadata)
            }
        }
        if next.disk != alarms.disk {
            let metadata: Logger.Metadata = ["free": "\(free)", "limit": "\(limits.diskFreeLimitBytes)", "data": "\(dataDirectory)"]
            if next.disk {
                logger.warning(
                    diskRefusedWrite ? "disk alarm set: the disk refused a write for want of space; publishers are blocked until there is room"
                        : "disk alarm set: free disk space is below the limit; publishers are blocked", metadata: metadata)
            } else {
                logger.info("disk alarm cleared", metadata: metadata)
            }
        }
        alarms = next
        return next
    }
}
