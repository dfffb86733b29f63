"""Queue-level de-duplication with the rabbitmq-message-deduplication plugin's interface,
through pika: a queue declared with `x-message-deduplication: true` does not store a
message whose `x-deduplication-header` equals that of a message it holds (the publish is
still confirmed), stores it again once that message is gone, and keeps every message
without the header; a leader change keeps what it knows."""

import pika
import pytest

PLUGIN = pytest.mark.plugin("rabbitmq_message_deduplication")


def connect(node):
    return pika.BlockingConnection(pika.URLParameters(node.url + "?heartbeat=0"))


def publish(channel, queue, body, key=None):
    headers = {"x-deduplication-header": key} if key is not None else None
    # With confirms on, BlockingChannel.basic_publish returns once the broker acked it and
    # raises if it nacked.
    channel.basic_publish("", queue, body, pika.BasicProperties(headers=headers, delivery_mode=2))


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
