/// Where a binding leads: a queue or another exchange of the same vhost.
public enum BindingDestination: Hashable, Comparable, Sendable {
    case queue(String)
    case exchange(String)
}
