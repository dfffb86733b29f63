/// A method that content (a content header and body frames) follows.
///
/// The typed view of the four content-bearing methods, so that the content assembler's
/// output can be matched exhaustively without a `default:`.
public enum ContentMethod: Hashable, Sendable {
    /// basic.publish (client → server).
    case publish(Method.Basic.Publish)
    /// basic.return (server → client).
    case `return`(Method.Basic.Return)
    /// basic.deliver (server → client).
    case deliver(Method.Basic.Deliver)
    /// basic.get-ok (server → client).
    case getOk(Method.Basic.GetOk)

    /// The method itself.
    public var method: Method {
        switch self {
        case .publish(let fields): .basic(.publish(fields))
        case .return(let fields): .basic(.return(fields))
        case .deliver(let fields): .basic(.deliver(fields))
        case .getOk(let fields): .basic(.getOk(fields))
        }
    }

    /// The class id a matching content header must carry.
    public var classID: UInt16 {
        Method.Basic.classID
    }
}
