/// Which Berth this is, as clients (connection.start) and the management API (overview) see it.
enum BerthVersion {
    static let current = "0.1.0"
    /// The RabbitMQ release whose behaviour Berth's answers follow: what tools that read the
    /// overview's `rabbitmq_version` are told.
    static let rabbitmqCompatible = "3.10.8"
}
