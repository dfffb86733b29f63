"""RabbitMQ's delayed-message plugin as its users drive it through pika: an exchange of type
`x-delayed-message` with an `x-delayed-type`, publishes with an `x-delay` header in ms. Berth
replicates what it holds, so a delayed message also survives the leader's death and a
restart of the whole cluster."""

import json
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager

import pika
import pytest

pytestmark = pytest.mark.plugin("rabbitmq_delayed_message_exchange")

from berth_cluster import GUEST_BASIC_AUTH, HOST

DELAYED = "x-delayed-message"


@contextmanager
def connected(port):
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0))
    try:
        yield connection.channel()
    finally:
        if connection.is_open:
            connection.close()


def declare(channel, names, routing="direct", keys=("k",), queues=("q",)):
    """A delayed exchange with a queue bound to it per name in `queues`, by each of `keys`."""
    exchange = names("x")
    channel.exchange_declare(exchange, exchange_type=DELAYED, durable=True, arguments={"x-delayed-type": routing})
    for queue in queues:
        channel.queue_declare(names(queue), durable=True)
        for key in keys:
            channel.queue_bind(names(queue), exchange, routing_key=key)
    return exchange


def publish(channel, exchange, body, delay=None, key="k", mandatory=False):
    headers = {"x-delay": delay} if delay is not None else None
    channel.basic_publish(exchange, key, body, pika.BasicProperties(headers=headers, delivery_mode=2), mandatory=mandatory)


def receive(channel, queue, count, seconds=15):
    """The first `count` (body, headers, monotonic arrival time) of `queue`, within `seconds`."""
    received = []
    deadline = time.monotonic() + seconds
    for method, properties, body in channel.consume(queue, auto_ack=True, inactivity_timeout=0.01):
        if method is not None:
            received.append((body, properties.headers, time.monotonic()))
        if len(received) == count or time.monotonic() > deadline:
            break
    channel.cancel()
    return received


def nothing_arrives(channel, queue, until):
    """Polls the queue until the monotonic time `until`: it must stay empty."""
    while time.monotonic() < until:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        assert method is None, f"{body!r} arrived {until - time.monotonic():.3f} s before its time"
        time.sleep(0.02)


def test_a_delayed_message_arrives_after_its_delay_and_not_before(node, names):
    with connected(node.port) as channel:
        channel.confirm_delivery()
        exchange = declare(channel, names)
        published = time.monotonic()
        publish(channel, exchange, b"later", delay=1000)
        confirmed = time.monotonic()
        assert confirmed - published < 0.9, "confirmed once in the log, not when it fires"
        nothing_arrives(channel, names("q"), published + 0.95)
        [(body, headers, arrived)] = receive(channel, names("q"), 1)
        assert body == b"later"
        assert 0.95 <= arrived - published < 1.6, "fired on time: the leader wakes when it is due"
        assert headers["x-delay"] == -1000, "the plugin marks a fired message with the delay negated"
        channel.exchange_delete(exchange)
        channel.queue_delete(names("q"))


def test_messages_fire_in_delay_order_and_without_a_delay_at_once(node, names):
    with connected(node.port) as channel:
        channel.confirm_delivery()
        exchange = declare(channel, names)
        publish(channel, exchange, b"1500", delay=1500)
        publish(channel, exchange, b"300", delay=300)
        publish(channel, exchange, b"now")
        publish(channel, exchange, b"zero", delay=0)
        received = receive(channel, names("q"), 4)
        assert [body for body, _, _ in received] == [b"now", b"zero", b"300", b"1500"]
        channel.exchange_delete(exchange)
        channel.queue_delete(names("q"))


def test_a_topic_delayed_exchange_routes_by_the_bindings_it_has_when_the_message_fires(node, names):
    with connected(node.port) as channel:
        channel.confirm_delivery()
        exchange = declare(channel, names, routing="topic", keys=("a.*",), queues=("early", "late"))
        publish(channel, exchange, b"a.b", delay=400, key="a.b")
        publish(channel, exchange, b"c.d", delay=400, key="c.d")
        # Bound while the message is held: it counts when the message fires.
        channel.queue_unbind(names("late"), exchange, routing_key="a.*")
        channel.queue_bind(names("late"), exchange, routing_key="#.b")
        early = receive(channel, names("early"), 1)
        late = receive(channel, names("late"), 1)
        assert [body for body, _, _ in early] == [b"a.b"]
        assert [body for body, _, _ in late] == [b"a.b"]
        time.sleep(0.5)  # c.d was due with a.b: nothing may come of it
        assert channel.basic_get(names("early"), auto_ack=True)[0] is None
        assert channel.basic_get(names("late"), auto_ack=True)[0] is None
        channel.exchange_delete(exchange)
        channel.queue_delete(names("early"))
        channel.queue_delete(names("late"))


def test_a_mandatory_delayed_publish_comes_back_and_still_fires_as_with_the_plugin(node, names):
    with connected(node.port) as channel:
        channel.confirm_delivery()
        exchange = declare(channel, names)
        with pytest.raises(pika.exceptions.UnroutableError):
            publish(channel, exchange, b"returned", delay=200, mandatory=True)
        assert [body for body, _, _ in receive(channel, names("q"), 1)] == [b"returned"]
        channel.exchange_delete(exchange)
        channel.queue_delete(names("q"))


@pytest.mark.parametrize("arguments, text", [
    ({}, "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must bean existing exchnage type"),
    ({"x-delayed-type": "nonsense"}, "PRECONDITION_FAILED - unknown exchange type 'nonsense'"),
])
def test_a_delayed_exchange_without_a_known_delayed_type_is_refused(node, names, arguments, text):
    with connected(node.port) as channel:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.exchange_declare(names("x"), exchange_type=DELAYED, arguments=arguments)
        assert refused.value.reply_code == 406
        assert refused.value.reply_text == text


def test_redeclaring_with_another_delayed_type_is_refused(node, names):
    with connected(node.port) as channel:
        channel.exchange_declare(names("x"), exchange_type=DELAYED, arguments={"x-delayed-type": "fanout"})
        channel.exchange_declare(names("x"), exchange_type=DELAYED, arguments={"x-delayed-type": "fanout"})
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.exchange_declare(names("x"), exchange_type=DELAYED, arguments={"x-delayed-type": "direct"})
        assert refused.value.reply_code == 406
    with connected(node.port) as channel:
        channel.exchange_delete(names("x"))


def http(node, method, path, body=None):
    request = urllib.request.Request(f"http://{HOST}:{node.http_port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": GUEST_BASIC_AUTH, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as reply:
        return json.load(reply)


def test_the_management_api_shows_the_type_its_arguments_and_what_it_holds(local_cluster, names):
    leader = local_cluster.wait_for_leader()
    with connected(leader.amqp_port) as channel:
        channel.confirm_delivery()
        exchange = declare(channel, names)
        for n in range(3):
            publish(channel, exchange, b"%d" % n, delay=60_000)
        path = f"/api/exchanges/%2F/{urllib.parse.quote(exchange, safe='')}"
        shown = http(leader, "GET", path)
        assert shown["type"] == DELAYED
        assert shown["arguments"] == {"x-delayed-type": "direct"}
        assert shown["messages_delayed"] == 3
        # The management API's publish is held too, and like the plugin's says it routed nowhere.
        answer = http(leader, "POST", path + "/publish", {
            "properties": {"headers": {"x-delay": 200}}, "routing_key": "k", "payload": "by http", "payload_encoding": "string"})
        assert answer == {"routed": False}
        assert [body for body, _, _ in receive(channel, names("q"), 1)] == [b"by http"]
        assert http(leader, "GET", path)["messages_delayed"] == 3
        assert "messages_delayed" not in http(leader, "GET", "/api/exchanges/%2F/amq.direct")
        channel.exchange_delete(exchange)
        channel.queue_delete(names("q"))


def publish_held(port, names, delay_ms):
    """Declares, publishes one message with confirms and returns the monotonic publish time."""
    with connected(port) as channel:
        channel.confirm_delivery()
        exchange = declare(channel, names)
        published = time.monotonic()
        publish(channel, exchange, b"held", delay=delay_ms)
    return exchange, published


def receive_after(cluster, names, exchange, published, delay_ms):
    leader = cluster.wait_for_leader(timeout=30)
    with connected(leader.amqp_port) as channel:
        [(body, _, arrived)] = receive(channel, names("q"), 1, seconds=30)
        assert body == b"held"
        assert arrived - published >= delay_ms / 1000 - 0.05
        channel.exchange_delete(exchange)
        channel.queue_delete(names("q"))


@pytest.mark.leader_change
@pytest.mark.seconds(90)
def test_a_held_message_fires_after_the_leader_that_took_it_is_killed(cluster, names):
    leader = cluster.leader() or cluster.wait_for_leader()
    exchange, published = publish_held(leader.amqp_port, names, 3000)
    cluster.kill(leader)
    cluster.wait_for_leader(other_than=leader)
    receive_after(cluster, names, exchange, published, 3000)


@pytest.mark.leader_change
@pytest.mark.seconds(120)
def test_a_held_message_fires_after_the_whole_cluster_is_killed_and_restarted(cluster, names):
    leader = cluster.leader() or cluster.wait_for_leader()
    exchange, published = publish_held(leader.amqp_port, names, 2000)
    for node in cluster.nodes:
        cluster.kill(node)
    for node in cluster.nodes:
        cluster.restart(node)
    receive_after(cluster, names, exchange, published, 2000)
