import XCTest

@testable import Broker

/// Same commands in, same effects and state out — even when the two states' hash tables
/// differ inside (one grew and shrank), so no effect may depend on dictionary order.
final class DeterminismTests: XCTestCase {
    func testEffectsDoNotDependOnHashTableLayout() {
        var plain = Harness()
        var churned = Harness()
        for n in 0..<300 {
            churned.declareQueue("junk\(n)")
            churned.declareExchange("junkx\(n)", .fanout)
        }
        for n in 0..<300 {
            churned.apply(.deleteQueue(QueueDeletion(name: "junk\(n)")))
            churned.apply(.deleteExchange(ExchangeDeletion(name: "junkx\(n)")))
        }
        while plain.index < churned.index { plain.apply(.declareVHost(name: "/")) }
        XCTAssertEqual(plain.state.snapshotData(), churned.state.snapshotData())

        var script: [BrokerCommand] = [.declareVHost(name: "other")]
        for n in 0..<20 {
            script.append(.declareExchange(ExchangeDeclaration(name: "x\(n)", type: .fanout, autoDelete: n % 2 == 0)))
            script.append(.declareQueue(QueueDeclaration(name: "q\(n)", exclusive: n % 3 == 0, owner: "conn", timestamp: 0)))
            script.append(.declareQueue(QueueDeclaration(vhost: "other", name: "o\(n)", owner: "conn", timestamp: 0)))
        }
        for n in 0..<20 {
            script.append(.bind(BindingChange(binding: Binding(source: "x\(n)", destination: .queue("q\((n * 7) % 20)"), routingKey: ""))))
            script.append(.bind(BindingChange(binding: Binding(source: "x\(n)", destination: .queue("q\((n * 3) % 20)"), routingKey: ""))))
            script.append(.bind(BindingChange(binding: Binding(source: "amq.fanout", destination: .exchange("x\(n)"), routingKey: ""))))
        }
        let queues = (0..<20).map { q("q\($0)") }
        script.append(.enqueue(Enqueue(timestamp: 5, messages: [Publish(message: Message(exchange: "amq.fanout", routingKey: "", body: [1]), queues: queues.reversed())])))
        script.append(.deleteQueuesOwned(by: "conn"))
        for n in stride(from: 1, to: 20, by: 3) { script.append(.deleteQueue(QueueDeletion(name: "q\(n)"))) }
        script.append(.deleteExchange(ExchangeDeletion(name: "x4")))
        script.append(.deleteVHost(name: "other"))
        for command in script {
            XCTAssertEqual(plain.apply(command), churned.apply(command), "\(command)")
        }
        for n in 0..<20 where plain.state.exchange(ExchangeName("x\(n)")) != nil {
            XCTAssertEqual(
                try plain.state.route(vhost: "/", exchange: "x\(n)", routingKey: "", headers: nil),
                try churned.state.route(vhost: "/", exchange: "x\(n)", routingKey: "", headers: nil))
        }
        XCTAssertEqual(plain.state.snapshotData(), churned.state.snapshotData())
    }
}
