/// What a channel's `ContentAssembler` hands on: a method, together with its content
/// when it carries some.
public enum AssembledMethod: Hashable, Sendable {
    /// A method without content.
    case method(Method)
    /// A content-bearing method with its content header and whole body.
    case content(ContentMethod, ContentHeader, MessageBody)
}
