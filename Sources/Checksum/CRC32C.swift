import CCRC32C

/// CRC-32C (Castagnoli): the checksum of every log record, hard state, snapshot file and
/// stored message. With the CPU's CRC-32C instruction (SSE4.2, ARMv8 CRC) where it has one,
/// which checksums a 20 MiB body in a few milliseconds even in a debug build; otherwise
/// slicing-by-8 (eight tables, eight bytes a step).
public enum CRC32C {
    /// Whether `checksum` uses the CPU's instruction; checked once.
    public static let usesCPUInstruction = berth_crc32c_instruction_available() == 1

    /// `tables[0]` is the classic byte table; `tables[k][b]` is the CRC of byte `b` followed
    /// by `k` zero bytes, so that eight bytes fold in at once.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[byte] = crc
        }
        for slice in 1..<8 {
            for byte in 0..<256 {
                let previous = tables[(slice - 1) * 256 + byte]
                tables[slice * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        guard usesCPUInstruction, let base = bytes.baseAddress else { return slicingChecksum(bytes, continuing: previous) }
        return ~berth_crc32c_instruction_update(~previous, base, bytes.count)
    }

    /// The table implementation, whatever the CPU has: the fallback, and what the
    /// instruction is tested against.
    static func slicingChecksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        var crc = ~previous
        tables.withUnsafeBufferPointer { t in
            var index = 0
            let count = bytes.count
            while index + 8 <= count {
                let low = UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24
                let high = UInt32(bytes[index + 4]) | UInt32(bytes[index + 5]) << 8 | UInt32(bytes[index + 6]) << 16 | UInt32(bytes[index + 7]) << 24
                let mixed = crc ^ low
                crc = t[7 * 256 + Int(mixed & 0xFF)] ^ t[6 * 256 + Int((mixed >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((mixed >> 16) & 0xFF)] ^ t[4 * 256 + Int(mixed >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                index += 8
            }
            while index < count {
                crc = t[Int((crc ^ UInt32(bytes[index])) & 0xFF)] ^ (crc >> 8)
                index += 1
            }
        }
        return ~crc
    }

    public static func checksum(_ bytes: [UInt8], continuing previous: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: previous) }
    }
}
