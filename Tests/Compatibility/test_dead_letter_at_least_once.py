"""At-least-once dead-lettering of quorum queues, through pika, against the leader and a
follower: with `x-dead-letter-strategy: at-least-once` and `x-overflow: reject-publish`, a
message its dead-letter target refuses stays in the source queue (not ready, shown as
`messages_dlx` by the management API) until the target takes it; with the default
`drop-head` it is lost, as in RabbitMQ. And a quorum queue holds a message published with
`x-opt-delivery-delay` or `x-opt-delivery-time` back until then."""

import time

import pika
import pytest

from berth_cluster import HOST
from conftest import Endpoint
from test_access import api, managed_node  # noqa: F401 (managed_node is a fixture)

WAIT = 15.0  # one condition's deadline: a retry that forwards nothing waits 5 s for the next
# How late a held message may come on a loaded two-core machine: its own delay plus this.
LATE = 1.5
RETRIED_WITHIN_SECONDS = pytest.mark.berth_only("a refused dead letter is retried within seconds")
DELIVERY_TIME = pytest.mark.berth_only("the delivery-time headers on a quorum queue")


def connect(node):
    return pika.BlockingConnection(pika.URLParameters(node.url + "?heartbeat=0"))


def wait_until(connection, condition, what):
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT} s: {what}"
        connection.process_data_events(time_limit=0.05)


def declare_pair(channel, source, target, strategy="at-least-once", overflow="reject-publish"):
    """`source` dead-letters through the default exchange to `target`, which holds at most
    one message and refuses more."""
    channel.queue_declare(target, durable=True, arguments={"x-queue-type": "quorum", "x-max-length": 1, "x-overflow": "reject-publish"})
    channel.queue_declare(source, durable=True, arguments={
        "x-queue-type": "quorum", "x-dead-letter-exchange": "", "x-dead-letter-routing-key": target,
        "x-dead-letter-strategy": strategy, "x-overflow": overflow})


def reject_one(channel, queue):
    method, _, body = channel.basic_get(queue, auto_ack=False)
    assert method is not None
    channel.basic_reject(method.delivery_tag, requeue=False)
    return body


def dead_letter_into_a_full_target(channel, source, target, body, overflow="reject-publish"):
    """Declares the pair, fills `target`, and has `source` dead-letter `body` (a reject)."""
    declare_pair(channel, source, target, overflow=overflow)
    channel.basic_publish("", target, b"filler")
    channel.basic_publish("", source, body)
    assert reject_one(channel, source) == body


def ready(channel, queue):
    return channel.queue_declare(queue, passive=True).method.message_count


@RETRIED_WITHIN_SECONDS
def test_a_refused_dead_letter_waits_in_its_source_and_arrives_once_there_is_room(node, names):
    source, target = names("src"), names("dlq")
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        dead_letter_into_a_full_target(channel, source, target, b"m")
        assert ready(channel, source) == 0, "a pending dead letter is not ready"
        connection.sleep(1.5)  # a retry or two while the target is full (the sweep runs every second)
        assert ready(channel, target) == 1
        method, _, body = channel.basic_get(target, auto_ack=True)
        assert body == b"filler"
        got = []
        wait_until(connection, lambda: got.append(channel.basic_get(target, auto_ack=True)) or got[-1][0] is not None,
                   "the dead letter in its target")
        _, properties, body = got[-1]
        assert body == b"m"
        death = properties.headers["x-death"][0]
        assert (death["reason"], death["queue"], death["count"]) == ("rejected", source, 1)
        assert ready(channel, source) == 0
        channel.queue_delete(source)
        channel.queue_delete(target)


def test_with_drop_head_a_refused_dead_letter_is_lost(node, names):
    source, target = names("src"), names("dlq")
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        dead_letter_into_a_full_target(channel, source, target, b"m", overflow="drop-head")
        channel.queue_delete(target)
        channel.queue_declare(target, durable=True, arguments={"x-queue-type": "quorum", "x-max-length": 1, "x-overflow": "reject-publish"})
        connection.sleep(1.5)  # a retry would have come by now
        assert ready(channel, target) == 0
        assert ready(channel, source) == 0
        channel.queue_delete(source)
        channel.queue_delete(target)


@RETRIED_WITHIN_SECONDS
def test_the_management_api_counts_pending_dead_letters(managed_node, names):
    _, target_node = managed_node
    node = Endpoint(HOST, target_node.amqp_port, "managed")
    source, target = names("src"), names("dlq")
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        dead_letter_into_a_full_target(channel, source, target, b"four")

        def listed():
            status, info = api(target_node, "GET", f"/api/queues/%2F/{source}")
            assert status == 200
            return info

        wait_until(connection, lambda: listed().get("messages_dlx") == 1, "messages_dlx 1")
        info = listed()
        assert (info["messages"], info["messages_ready"], info["message_bytes_dlx"]) == (0, 0, 4)
        channel.basic_get(target, auto_ack=True)
        wait_until(connection, lambda: listed().get("messages_dlx") == 0, "messages_dlx 0 once forwarded")
        channel.queue_delete(source)
        channel.queue_delete(target)


@DELIVERY_TIME
@pytest.mark.parametrize("header", ["x-opt-delivery-delay", "x-opt-delivery-time"])
def test_a_quorum_queue_holds_a_message_until_its_delivery_time(node, names, header):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
        delay = 1.5
        published = time.time()
        value = int(delay * 1000) if header == "x-opt-delivery-delay" else int((published + delay) * 1000)
        channel.basic_publish("", queue, b"later", pika.BasicProperties(headers={header: value}))
        channel.basic_publish("", queue, b"now")
        assert ready(channel, queue) == 1, "the held one is not ready"
        arrived = []
        channel.basic_qos(prefetch_count=10)
        channel.basic_consume(queue, lambda ch, method, properties, body: arrived.append((body, time.time())), auto_ack=True)
        wait_until(connection, lambda: len(arrived) == 2, "both messages")
        assert [body for body, _ in arrived] == [b"now", b"later"]
        late = arrived[1][1] - published
        assert delay - 0.05 <= late <= delay + LATE, f"came {late:.3f} s after its publish"
        channel.queue_delete(queue)


def connect_port(port):
    return pika.BlockingConnection(pika.ConnectionParameters(host=HOST, port=port, heartbeat=0))


@pytest.mark.leader_change
@pytest.mark.seconds(120)
def test_a_pending_dead_letter_survives_its_leaders_kill_and_arrives_after(cluster, names):
    source, target = names("src"), names("dlq")
    leader = cluster.leader() or cluster.wait_for_leader()
    with connect_port(leader.amqp_port) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        dead_letter_into_a_full_target(channel, source, target, b"m")
        # The reject is applied when the passive declare behind it on the channel is answered.
        assert ready(channel, source) == 0
    cluster.kill(leader)
    successor = cluster.wait_for_leader(other_than=leader, timeout=30)
    with connect_port(successor.amqp_port) as connection:
        channel = connection.channel()
        assert ready(channel, target) == 1, "still full: the dead letter waits in its source"
        channel.basic_get(target, auto_ack=True)
        got = []
        wait_until(connection, lambda: got.append(channel.basic_get(target, auto_ack=True)) or got[-1][0] is not None,
                   "the dead letter in its target, retried by the new leader")
        assert got[-1][2] == b"m"
        connection.sleep(1.5)  # a retry or two more: none may store a second copy
        assert ready(channel, target) == 0
        channel.queue_delete(source)
        channel.queue_delete(target)


@pytest.mark.leader_change
@pytest.mark.seconds(120)
def test_a_message_held_for_its_delivery_time_survives_its_leaders_kill(cluster, names):
    queue = names()
    leader = cluster.leader() or cluster.wait_for_leader()
    delay = 4.0
    with connect_port(leader.amqp_port) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
        published = time.time()
        channel.basic_publish("", queue, b"later", pika.BasicProperties(headers={"x-opt-delivery-time": int((published + delay) * 1000)}))
    cluster.kill(leader)
    successor = cluster.wait_for_leader(other_than=leader, timeout=30)
    with connect_port(successor.amqp_port) as connection:
        channel = connection.channel()
        arrived = []
        channel.basic_qos(prefetch_count=10)
        channel.basic_consume(queue, lambda ch, method, properties, body: arrived.append((body, time.time())), auto_ack=True)
        wait_until(connection, lambda: arrived, "the held message, from the new leader")
        assert arrived[0][0] == b"later"
        assert arrived[0][1] - published >= delay - 0.05, "not before its time"
        channel.queue_delete(queue)
