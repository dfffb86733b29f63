import NIOCore

// Field tables and arrays on the wire: a 32-bit byte length, then (for a table) pairs of
// shortstr name and typed value, or (for an array) typed values. A typed value is one
// type octet followed by the value (see `FieldValue`).

extension ByteBuffer {
    /// Reads a field table that is a method field or a property (nesting depth 1).
    mutating func readFieldTable() throws(AMQPError) -> FieldTable {
        try self.readFieldTable(depth: 1)
    }

    private mutating func readFieldTable(depth: Int) throws(AMQPError) -> FieldTable {
        guard depth <= FieldTable.nestingDepthMax else {
            throw AMQPError.syntaxError(.nestingTooDeep, method: nil)
        }
        var contents = try self.readLengthPrefixed32()
        var table = FieldTable()
        while contents.readableBytes > 0 {
            let name = try contents.readShortString()
            let value = try contents.readFieldValue(depth: depth)
            table.append(name: name, value: value)
        }
        return table
    }

    private mutating func readFieldArray(depth: Int) throws(AMQPError) -> [FieldValue] {
        guard depth <= FieldTable.nestingDepthMax else {
            throw AMQPError.syntaxError(.nestingTooDeep, method: nil)
        }
        var contents = try self.readLengthPrefixed32()
        var array: [FieldValue] = []
        while contents.readableBytes > 0 {
            array.append(try contents.readFieldValue(depth: depth))
        }
        return array
    }

    private mutating func readLengthPrefixed32() throws(AMQPError) -> ByteBuffer {
        let length = try self.readLong()
        guard let contents = self.readSlice(length: Int(length)) else {
            throw AMQPError.syntaxError(.truncated, method: nil)
        }
        return contents
    }

    /// Reads a typed value inside a table or array that is itself at nesting `depth`.
    private mutating func readFieldValue(depth: Int) throws(AMQPError) -> FieldValue {
        let type = try self.readOctet()
        switch type {
        case UInt8(ascii: "t"):
            return .bool(try self.readOctet() != 0)
        case UInt8(ascii: "b"):
            return .int8(Int8(bitPattern: try self.readOctet()))
        case UInt8(ascii: "B"):
            return .uint8(try self.readOctet())
        case UInt8(ascii: "s"):
            return .int16(Int16(bitPattern: try self.readShort()))
        case UInt8(ascii: "u"):
            return .uint16(try self.readShort())
        case UInt8(ascii: "I"):
            return .int32(Int32(bitPattern: try self.readLong()))
        case UInt8(ascii: "i"):
            return .uint32(try self.readLong())
        case UInt8(ascii: "l"), UInt8(ascii: "L"):
            return .int64(Int64(bitPattern: try self.readLongLong()))
        case UInt8(ascii: "f"):
            return .float(Float(bitPattern: try self.readLong()))
        case UInt8(ascii: "d"):
            return .double(Double(bitPattern: try self.readLongLong()))
        case UInt8(ascii: "D"):
            let scale = try self.readOctet()
            let value = Int32(bitPattern: try self.readLong())
            return .decimal(scale: scale, value: value)
        case UInt8(ascii: "S"):
            return .longString(try self.readLongString())
        case UInt8(ascii: "x"):
            return .byteArray(try self.readLongString())
        case UInt8(ascii: "A"):
            return .array(try self.readFieldArray(depth: depth + 1))
        case UInt8(ascii: "T"):
            return .timestamp(try self.readLongLong())
        case UInt8(ascii: "F"):
            return .table(try self.readFieldTable(depth: depth + 1))
        case UInt8(ascii: "V"):
            return .void
        default:
            throw AMQPError.syntaxError(.fieldTypeUnknown(type), method: nil)
        }
    }

    /// Writes a field table that is a method field or a property (nesting depth 1).
    mutating func writeFieldTable(_ table: FieldTable) throws(AMQPError) {
        try self.writeFieldTable(table, depth: 1)
    }

    private mutating func writeFieldTable(_ table: FieldTable, depth: Int) throws(AMQPError) {
        guard depth <= FieldTable.nestingDepthMax else {
            throw AMQPError.syntaxError(.nestingTooDeep, method: nil)
        }
        try self.writeLengthPrefixed32 { (buffer: inout ByteBuffer) throws(AMQPError) in
            for entry in table.entries {
                try buffer.writeShortString(entry.name)
                try buffer.writeFieldValue(entry.value, depth: depth)
            }
        }
    }

    private mutating func writeFieldArray(_ array: [FieldValue], depth: Int) throws(AMQPError) {
        guard depth <= FieldTable.nestingDepthMax else {
            throw AMQPError.syntaxError(.nestingTooDeep, method: nil)
        }
        try self.writeLengthPrefixed32 { (buffer: inout ByteBuffer) throws(AMQPError) in
            for value in array {
                try buffer.writeFieldValue(value, depth: depth)
            }
        }
    }

    /// Writes a typed value inside a table or array that is itself at nesting `depth`.
    private mutating func writeFieldValue(_ value: FieldValue, depth: Int) throws(AMQPError) {
        self.writeInteger(value.typeOctet)
        switch value {
        case .bool(let bool):
            self.writeInteger(bool ? 1 : 0 as UInt8)
        case .int8(let int):
            self.writeInteger(int)
        case .uint8(let int):
            self.writeInteger(int)
        case .int16(let int):
            self.writeInteger(int)
        case .uint16(let int):
            self.writeInteger(int)
        case .int32(let int):
            self.writeInteger(int)
        case .uint32(let int):
            self.writeInteger(int)
        case .int64(let int):
            self.writeInteger(int)
        case .float(let float):
            self.writeInteger(float.bitPattern)
        case .double(let double):
            self.writeInteger(double.bitPattern)
        case .decimal(let scale, let value):
            self.writeInteger(scale)
            self.writeInteger(value)
        case .longString(let bytes), .byteArray(let bytes):
            self.writeLongString(bytes)
        case .array(let array):
            try self.writeFieldArray(array, depth: depth + 1)
        case .timestamp(let seconds):
            self.writeInteger(seconds)
        case .table(let table):
            try self.writeFieldTable(table, depth: depth + 1)
        case .void:
            break
        }
    }
}
