"""Quorum queues as RabbitMQ 4.3 serves them, through pika: 32 strict message priorities
without `x-max-priority` (a message without one counts as 4), returned messages first in
the order they came back, a consumer that keeps a delivery past its timeout cancelled with
basic.cancel (its channel stays open, the delivery goes back, a late ack is ignored), and
single active consumer with consumer priorities choosing the active one."""

import time

import pika
import pytest

NEWER = pytest.mark.newer_than_3_10("RabbitMQ 4.3's quorum queues")
WAIT = 10.0  # one condition's deadline


def connect(node):
    return pika.BlockingConnection(pika.URLParameters(node.url + "?heartbeat=0"))


def declare_quorum(channel, queue, **arguments):
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum", **arguments})


def publish(channel, queue, body, priority=None, headers=None):
    channel.basic_publish("", queue, body, pika.BasicProperties(priority=priority, headers=headers))


def get_bodies(channel, queue, count):
    bodies = []
    for _ in range(count):
        method, _, body = channel.basic_get(queue, auto_ack=True)
        assert method is not None, f"get-empty after {bodies}"
        bodies.append(body)
    return bodies


def wait_until(connection, condition, what):
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT} s: {what}"
        connection.process_data_events(time_limit=0.05)


def nothing_arrives_for(connection, seconds, received):
    """Events are served for `seconds`; `received` must stay as it was."""
    before = list(received)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.05)
    assert received == before


@NEWER
def test_a_quorum_queue_serves_32_priorities_without_max_priority(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        declare_quorum(channel, queue)
        for body, priority in [(b"zero", 0), (b"none", None), (b"top", 31), (b"capped", 200), (b"five", 5), (b"four", 4)]:
            publish(channel, queue, body, priority)
        assert get_bodies(channel, queue, 6) == [b"top", b"capped", b"five", b"none", b"four", b"zero"]
        channel.queue_delete(queue)


@NEWER
def test_returned_messages_come_first_in_the_order_they_came_back(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        declare_quorum(channel, queue)
        publish(channel, queue, b"low", 1)
        publish(channel, queue, b"high1", 9)
        publish(channel, queue, b"high2", 9)
        taken = {}
        for _ in range(3):
            method, _, body = channel.basic_get(queue, auto_ack=False)
            taken[body] = method.delivery_tag
        assert list(taken) == [b"high1", b"high2", b"low"]
        channel.basic_nack(taken[b"high2"], requeue=True)
        channel.basic_nack(taken[b"low"], requeue=True)
        channel.basic_ack(taken[b"high1"])
        publish(channel, queue, b"high3", 9)
        assert get_bodies(channel, queue, 3) == [b"high2", b"low", b"high3"]
        channel.queue_delete(queue)


@NEWER
@pytest.mark.parametrize("where", ["queue", "consumer"])
def test_a_consumer_that_keeps_a_delivery_too_long_is_cancelled_and_the_delivery_goes_back(node, names, where):
    queue = names()
    timeout = {"x-consumer-timeout": 1000}
    with connect(node) as connection, connect(node) as observer:
        channel = connection.channel()
        channel.confirm_delivery()
        declare_quorum(channel, queue, **(timeout if where == "queue" else {}))
        publish(channel, queue, b"slow")
        cancelled, received = [], []
        channel.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
        tag = channel.basic_consume(queue, lambda ch, method, props, body: received.append(method),
                                    arguments=timeout if where == "consumer" else None)
        wait_until(connection, lambda: received, "the delivery")
        wait_until(connection, lambda: cancelled, "basic.cancel from the broker")
        assert cancelled == [tag]

        # The delivery is back, for anyone; the channel is still open, and the late ack of
        # the reclaimed tag is ignored rather than closing it.
        other = observer.channel()
        method, _, body = other.basic_get(queue, auto_ack=True)
        assert (body, method.redelivered) == (b"slow", True)
        channel.basic_ack(received[0].delivery_tag)
        assert channel.queue_declare(queue, passive=True).method.message_count == 0
        assert channel.is_open
        channel.queue_delete(queue)


@NEWER
def test_single_active_consumer_hands_over_to_a_higher_priority_consumer_once_the_active_one_holds_nothing(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        declare_quorum(channel, queue, **{"x-single-active-consumer": True})
        low, high = [], []
        low_channel, high_channel = connection.channel(), connection.channel()
        low_channel.basic_qos(prefetch_count=1)
        low_channel.basic_consume(queue, lambda ch, method, props, body: low.append((method.delivery_tag, body)))
        publish(channel, queue, b"m1")
        wait_until(connection, lambda: low, "m1 at the first consumer")

        high_channel.basic_consume(queue, lambda ch, method, props, body: high.append(body), arguments={"x-priority": 5})
        publish(channel, queue, b"m2")
        nothing_arrives_for(connection, 0.5, high)
        assert [body for _, body in low] == [b"m1"], "the active one stops getting messages"

        low_channel.basic_ack(low[0][0])
        wait_until(connection, lambda: high, "m2 at the higher-priority consumer")
        assert high == [b"m2"]
        channel.queue_delete(queue)


@NEWER
def test_when_the_active_consumer_leaves_the_highest_priority_one_takes_over(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        declare_quorum(channel, queue, **{"x-single-active-consumer": True})
        received = []
        first = channel.basic_consume(queue, lambda ch, method, props, body: received.append(("first", body)))
        publish(channel, queue, b"a")
        wait_until(connection, lambda: received, "a")
        # The first holds "a" unacknowledged, so it stays active while the others subscribe.
        channel.basic_consume(queue, lambda ch, method, props, body: received.append(("plain", body)))
        channel.basic_consume(queue, lambda ch, method, props, body: received.append(("urgent", body)),
                              arguments={"x-priority": 3})
        channel.basic_cancel(first)
        publish(channel, queue, b"b")
        wait_until(connection, lambda: len(received) == 2, "b")
        assert received == [("first", b"a"), ("urgent", b"b")]
        channel.queue_delete(queue)
