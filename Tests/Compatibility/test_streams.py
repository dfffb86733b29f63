"""Streams (`x-queue-type = stream`) through pika, as RabbitMQ offers them over AMQP 0-9-1:
publishes append with offsets 0, 1, 2, …; each consumer (with a per-consumer prefetch)
reads from its own `x-stream-offset` without taking anything away, every delivery
carrying its offset in the `x-stream-offset` header; a consumer that caught up gets new
messages as they come; `x-max-length-bytes` removes whole segments from the head."""

import time

import pika
import pika.exceptions
import pytest


def connect(node):
    return pika.BlockingConnection(pika.URLParameters(node.url + "?heartbeat=0"))


def declare_stream(channel, queue, **arguments):
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "stream", **arguments})


def publish(channel, queue, bodies):
    # With confirms on, BlockingChannel.basic_publish returns once the broker acked it.
    for body in bodies:
        channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))


class Reader:
    """A stream consumer that acknowledges what it gets, and remembers it."""

    def __init__(self, connection, queue, offset=None, prefetch=10):
        self.connection = connection
        self.channel = connection.channel()
        self.channel.basic_qos(prefetch_count=prefetch)
        self.got = []
        arguments = {} if offset is None else {"x-stream-offset": offset}
        self.tag = self.channel.basic_consume(queue, self.received, arguments=arguments)

    def received(self, channel, method, properties, body):
        self.got.append(((properties.headers or {}).get("x-stream-offset"), body))
        channel.basic_ack(method.delivery_tag)

    def offsets(self):
        return [offset for offset, _ in self.got]


def wait_for(connection, done, seconds=15):
    """Serves the connection until `done()` holds; fails past `seconds`."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        connection.process_data_events(time_limit=0.05)


def test_two_consumers_read_the_whole_stream_in_order(node, names):
    queue = names()
    bodies = [f"m{n}".encode() for n in range(100)]
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        declare_stream(channel, queue)
        publish(channel, queue, bodies)
        readers = [Reader(connection, queue, "first"), Reader(connection, queue, "first", prefetch=7)]
        wait_for(connection, lambda: all(len(reader.got) >= 100 for reader in readers))
        for reader in readers:
            assert reader.got == list(zip(range(100), bodies))
        # Nothing was taken: a third reads them all again.
        again = Reader(connection, queue, "first")
        wait_for(connection, lambda: len(again.got) >= 100)
        assert again.offsets() == list(range(100))
        channel.queue_delete(queue)


def test_consumers_from_an_offset_and_from_next(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        declare_stream(channel, queue)
        publish(channel, queue, [f"m{n}".encode() for n in range(100)])
        middle = Reader(connection, queue, 50)
        fresh = Reader(connection, queue)  # "next", the default
        explicit = Reader(connection, queue, "next")
        wait_for(connection, lambda: len(middle.got) >= 50)
        assert middle.offsets() == list(range(50, 100))
        assert middle.got[0][1] == b"m50"
        assert fresh.got == [] and explicit.got == []

        publish(channel, queue, [b"new 1", b"new 2"])
        wait_for(connection, lambda: len(fresh.got) >= 2 and len(explicit.got) >= 2 and len(middle.got) >= 52)
        assert fresh.got == [(100, b"new 1"), (101, b"new 2")]
        assert explicit.got == fresh.got
        assert middle.offsets()[-2:] == [100, 101]
        channel.queue_delete(queue)


@pytest.mark.berth_only("retention weighed as each message is appended; RabbitMQ weighs it later, on its own schedule")
def test_retention_by_max_length_bytes_drops_the_head(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        # Segments of 1 KB, at most 5 KB kept: old segments go as new ones fill.
        declare_stream(channel, queue, **{"x-max-length-bytes": 5_000, "x-stream-max-segment-size-bytes": 1_000})
        publish(channel, queue, [f"{n:04}".encode() * 50 for n in range(100)])
        reader = Reader(connection, queue, "first", prefetch=100)
        wait_for(connection, lambda: reader.got and reader.got[-1][0] == 99)
        offsets = reader.offsets()
        assert offsets[0] > 0, "the head was dropped"
        assert offsets == list(range(offsets[0], 100)), "what is left is contiguous, to the newest"
        assert len(offsets) < 50
        channel.queue_delete(queue)


def test_what_a_stream_refuses(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.queue_declare(queue, durable=False, arguments={"x-queue-type": "stream"})
        assert refused.value.reply_code == 406

        channel = connection.channel()
        declare_stream(channel, queue)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.basic_consume(queue, lambda *_: None)  # no prefetch set
        assert refused.value.reply_code == 406
        assert "consumer prefetch count is not set" in refused.value.reply_text

        # 540 is a connection's error.
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as refused:
            channel.basic_get(queue)
        assert refused.value.reply_code == 540
    with connect(node) as connection:
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as refused:
            connection.channel().queue_purge(queue)
        assert refused.value.reply_code == 540
    with connect(node) as connection:
        connection.channel().queue_delete(queue)
