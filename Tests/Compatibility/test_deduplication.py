"""De-duplication with the rabbitmq-message-deduplication plugin's interface, through pika.
A queue declared with `x-message-deduplication: true` does not store a message whose
`x-deduplication-header` equals that of a message it holds (the publish is still
confirmed), stores it again once that message is gone, and keeps every message without
the header. An `x-message-deduplication` exchange routes as fanout each message whose
header it has not seen within its window (`x-cache-size`, `x-cache-ttl`, or the message's
own `x-cache-ttl`), and refuses a declaration without a size. A leader change keeps what
either knows."""

import time

import pika
import pika.exceptions
import pytest

PLUGIN = pytest.mark.plugin("rabbitmq_message_deduplication")


def connect(node):
    return pika.BlockingConnection(pika.URLParameters(node.url + "?heartbeat=0"))


def publish(channel, queue, body, key=None, exchange="", ttl=None):
    headers = {"x-deduplication-header": key} if key is not None else None
    if ttl is not None:
        headers["x-cache-ttl"] = ttl
    # With confirms on, BlockingChannel.basic_publish returns once the broker acked it and
    # raises if it nacked.
    channel.basic_publish(exchange, queue, body, pika.BasicProperties(headers=headers, delivery_mode=2))


def bodies(channel, queue):
    got = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return got
        got.append(body)


@PLUGIN
def test_a_duplicate_of_a_held_message_is_confirmed_and_not_stored(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(queue, durable=True, arguments={"x-message-deduplication": True})
        publish(channel, queue, b"order 7", "order-7")
        publish(channel, queue, b"order 7 again", "order-7")
        publish(channel, queue, b"order 8", "order-8")
        publish(channel, queue, b"plain")
        publish(channel, queue, b"plain")
        assert channel.queue_declare(queue, passive=True).method.message_count == 4
        assert bodies(channel, queue) == [b"order 7", b"order 8", b"plain", b"plain"]

        # Consumed, the key is free again.
        publish(channel, queue, b"order 7 later", "order-7")
        assert bodies(channel, queue) == [b"order 7 later"]
        channel.queue_delete(queue)


@PLUGIN
def test_a_deduplication_exchange_routes_a_key_once_within_its_window(node, names):
    exchange, first, second = names("x"), names("a"), names("b")
    with connect(node) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.exchange_declare(exchange, "x-message-deduplication", durable=True,
                                 arguments={"x-cache-size": 100, "x-cache-ttl": 60_000})
        for queue in (first, second):
            channel.queue_declare(queue, durable=True)
            channel.queue_bind(queue, exchange, routing_key="unused")
        publish(channel, "any key", b"order 7", "order-7", exchange=exchange)
        publish(channel, "any key", b"order 7 again", "order-7", exchange=exchange)
        publish(channel, "any key", b"short", "short", exchange=exchange, ttl=200)
        publish(channel, "any key", b"plain", exchange=exchange)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            # Once its own TTL is over, "short" is routed again.
            publish(channel, "any key", b"short again", "short", exchange=exchange)
            if channel.queue_declare(second, passive=True).method.message_count == 4:
                break
            time.sleep(0.05)
        assert bodies(channel, first) == [b"order 7", b"short", b"plain", b"short again"]
        assert bodies(channel, second) == [b"order 7", b"short", b"plain", b"short again"]
        for queue in (first, second):
            channel.queue_delete(queue)
        channel.exchange_delete(exchange)


@PLUGIN
def test_a_deduplication_exchange_needs_a_cache_size(node, names):
    with connect(node) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.exchange_declare(names("x"), "x-message-deduplication")
        assert refused.value.reply_code == 406
        assert "x-cache-size" in refused.value.reply_text


@PLUGIN
@pytest.mark.leader_change
@pytest.mark.seconds(90)
def test_the_queue_remembers_its_keys_across_a_leader_change(cluster, names):
    queue = names()
    leader = cluster.leader()
    with pika.BlockingConnection(pika.URLParameters(f"amqp://guest:guest@127.0.0.1:{leader.amqp_port}/?heartbeat=0")) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(queue, durable=True, arguments={"x-message-deduplication": True})
        publish(channel, queue, b"once", "k")
    cluster.kill(leader)
    new_leader = cluster.wait_for_leader(other_than=leader)
    with pika.BlockingConnection(pika.URLParameters(f"amqp://guest:guest@127.0.0.1:{new_leader.amqp_port}/?heartbeat=0")) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        publish(channel, queue, b"twice", "k")
        assert bodies(channel, queue) == [b"once"]
        channel.queue_delete(queue)
