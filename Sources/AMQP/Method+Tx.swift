import NIOCore

// The methods of class tx (90), their fields and their wire form.
// Field order, types, bit packing and defaults follow RabbitMQ's amqp0-9-1 extended spec.

extension Method {
    /// Class `tx` (90): Work with standard transactions.
    public enum Tx: Hashable, Sendable {
        /// `tx.select` (10): Selects standard transaction mode. C→S.
        case select
        /// `tx.select-ok` (11): Confirms transaction mode. S→C.
        case selectOk
        /// `tx.commit` (20): Commits the current transaction. C→S.
        case commit
        /// `tx.commit-ok` (21): Confirms a successful commit. S→C.
        case commitOk
        /// `tx.rollback` (30): Abandons the current transaction. C→S.
        case rollback
        /// `tx.rollback-ok` (31): Confirms a successful rollback. S→C.
        case rollbackOk
    }
}

extension Method.Tx {
    /// The class id of `tx` on the wire.
    public static let classID: UInt16 = 90

    /// The method id of this method within its class.
    var methodID: UInt16 {
        switch self {
        case .select: 10
        case .selectOk: 11
        case .commit: 20
        case .commitOk: 21
        case .rollback: 30
        case .rollbackOk: 31
        }
    }

    /// The spec's name of this method, e.g. `"tx.select"`.
    var name: String {
        switch self {
        case .select: "tx.select"
        case .selectOk: "tx.select-ok"
        case .commit: "tx.commit"
        case .commitOk: "tx.commit-ok"
        case .rollback: "tx.rollback"
        case .rollbackOk: "tx.rollback-ok"
        }
    }
}

extension Method.Tx {
    /// Decodes the fields of method `methodID`, consuming them from `buffer`.
    ///
    /// Returns nil for a method id this class does not have. Errors thrown here carry no
    /// method id; `Method.decode(from:)` attaches it.
    static func decode(methodID: UInt16, from buffer: inout ByteBuffer) throws(AMQPError) -> Self? {
        switch methodID {
        case 10:
            return .select
        case 11:
            return .selectOk
        case 20:
            return .commit
        case 21:
            return .commitOk
        case 30:
            return .rollback
        case 31:
            return .rollbackOk
        default:
            return nil
        }
    }

    /// Writes the fields of this method (not its class and method ids) into `buffer`.
    func encodeFields(into buffer: inout ByteBuffer) throws(AMQPError) {
        switch self {
        case .select, .selectOk, .commit, .commitOk, .rollback, .rollbackOk:
            break
        }
    }
}
