"""Delayed retry of quorum queues as RabbitMQ 4.3 serves it, through pika: a message given
back is held min x delivery count (at most max) before it is delivered again; `failed`
holds rejects and not nacks; a declaration that enables it without a minimum is refused."""

import time

import pika
import pytest

NEWER = pytest.mark.newer_than_3_10("RabbitMQ 4.3's delayed retry of quorum queues")
WAIT = 10.0  # one condition's deadline
# How late a held message may come back on a loaded two-core machine: its own delay plus this.
LATE = 1.0
# Leader's and client's clocks read the same time differently by a few ms at most.
EARLY = 0.02


def connect(node):
    return pika.BlockingConnection(pika.URLParameters(node.url + "?heartbeat=0"))


def declare_retrying(channel, queue, kind, minimum, maximum=None):
    arguments = {"x-queue-type": "quorum", "x-delayed-retry-type": kind, "x-delayed-retry-min": minimum}
    if maximum is not None:
        arguments["x-delayed-retry-max"] = maximum
    channel.queue_declare(queue, durable=True, arguments=arguments)


def wait_until(connection, condition, what):
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT} s: {what}"
        connection.process_data_events(time_limit=0.01)


def consume(channel, queue):
    """Every delivery as (arrival time, method, headers)."""
    received = []
    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue, lambda ch, method, props, body: received.append((time.monotonic(), method, props.headers or {})))
    return received


@NEWER
def test_a_nacked_message_comes_back_after_min_then_after_twice_min(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        declare_retrying(channel, queue, "all", 500, 5000)
        channel.basic_publish("", queue, b"retry me", pika.BasicProperties(delivery_mode=2))
        received = consume(channel, queue)
        wait_until(connection, lambda: len(received) == 1, "the first delivery")

        for attempt, delay in [(1, 0.5), (2, 1.0)]:
            returned_at = time.monotonic()
            channel.basic_nack(received[-1][1].delivery_tag, requeue=True)
            wait_until(connection, lambda: len(received) == attempt + 1, f"redelivery {attempt}")
            arrived, method, headers = received[-1]
            waited = arrived - returned_at
            assert delay - EARLY <= waited <= delay + LATE, f"redelivery {attempt} after {waited:.3f} s, held {delay} s"
            assert method.redelivered
            assert headers.get("x-delivery-count") == attempt
        channel.basic_ack(received[-1][1].delivery_tag)
        channel.queue_delete(queue)


@NEWER
def test_failed_holds_a_reject_and_not_a_nack(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        declare_retrying(channel, queue, "failed", 800)
        channel.basic_publish("", queue, b"m")
        received = consume(channel, queue)
        wait_until(connection, lambda: len(received) == 1, "the first delivery")

        returned_at = time.monotonic()
        channel.basic_nack(received[-1][1].delivery_tag, requeue=True)
        wait_until(connection, lambda: len(received) == 2, "the nacked message back")
        assert received[-1][0] - returned_at < 0.8, "a nack is a plain return: not held"

        returned_at = time.monotonic()
        channel.basic_reject(received[-1][1].delivery_tag, requeue=True)
        wait_until(connection, lambda: len(received) == 3, "the rejected message back")
        waited = received[-1][0] - returned_at
        assert 0.8 - EARLY <= waited <= 0.8 + LATE, f"a reject is a failed delivery, held 0.8 s: back after {waited:.3f} s"
        channel.basic_ack(received[-1][1].delivery_tag)
        channel.queue_delete(queue)


@NEWER
def test_a_held_message_does_not_hold_up_the_next(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        declare_retrying(channel, queue, "all", 3000)
        for body in [b"first", b"second"]:
            channel.basic_publish("", queue, body)
        received = consume(channel, queue)
        wait_until(connection, lambda: len(received) == 1, "the first delivery")
        returned_at = time.monotonic()
        channel.basic_nack(received[0][1].delivery_tag, requeue=True)
        wait_until(connection, lambda: len(received) == 2, "the second message")
        assert received[1][0] - returned_at < 3.0
        assert channel.queue_declare(queue, passive=True).method.message_count == 0, "held back: not ready"
        channel.basic_ack(received[1][1].delivery_tag)
        wait_until(connection, lambda: len(received) == 3, "the first again, once ready")
        assert received[2][1].redelivered
        assert received[2][0] - returned_at >= 3.0 - EARLY
        channel.basic_ack(received[2][1].delivery_tag)
        channel.queue_delete(queue)


@NEWER
def test_enabling_it_without_a_minimum_is_refused(node, names):
    with connect(node) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.queue_declare(names(), durable=True, arguments={"x-queue-type": "quorum", "x-delayed-retry-type": "all"})
        assert refused.value.reply_code == 406
        assert "x-delayed-retry-min" in refused.value.reply_text
