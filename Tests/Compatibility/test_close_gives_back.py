"""What a closing channel or connection held is back in its queue by the time the client
hears the close, as on RabbitMQ: the next basic.get, from any connection, has it (first, and
redelivered) — after the client's channel.close, after the client's connection.close, and
after a channel the broker closed for an error. And an if-empty queue.delete and its
delete-ok count only the ready messages, not those out at consumers, as RabbitMQ's."""

import pika
import pika.exceptions
import pytest

ROUNDS = 5  # each round races the requeue against the next get; one is rarely enough


def connect(node):
    return pika.BlockingConnection(pika.URLParameters(node.url + "?heartbeat=0"))


def fill(channel, queue, bodies):
    channel.queue_declare(queue, auto_delete=False)
    channel.confirm_delivery()
    for body in bodies:
        channel.basic_publish("", queue, body)


def take_one_unacked(channel, queue):
    method, _, body = channel.basic_get(queue, auto_ack=False)
    assert method is not None and body == b"first"
    return method


def assert_first_is_back(other, queue):
    """On `other`, a channel of another connection opened beforehand (so that nothing gives
    the requeue time): the first message comes back first, flagged redelivered."""
    method, _, body = other.basic_get(queue, auto_ack=True)
    assert method is not None, "get-empty: the unacknowledged message was not back yet"
    assert (body, method.redelivered) == (b"first", True)
    other.queue_delete(queue)


@pytest.mark.parametrize("round", range(ROUNDS))
def test_an_unacked_delivery_is_back_when_channel_close_ok_arrives(node, names, round):
    queue = names()
    with connect(node) as connection, connect(node) as observer:
        other = observer.channel()
        channel = connection.channel()
        fill(channel, queue, [b"first", b"second"])
        take_one_unacked(channel, queue)
        channel.close()
        assert_first_is_back(other, queue)


@pytest.mark.parametrize("round", range(ROUNDS))
def test_an_unacked_delivery_is_back_when_connection_close_ok_arrives(node, names, round):
    queue = names()
    with connect(node) as observer:
        other = observer.channel()
        connection = connect(node)
        channel = connection.channel()
        fill(channel, queue, [b"first", b"second"])
        take_one_unacked(channel, queue)
        connection.close()
        assert_first_is_back(other, queue)


@pytest.mark.parametrize("round", range(ROUNDS))
def test_an_unacked_delivery_is_back_when_the_broker_closes_the_channel(node, names, round):
    queue, internal = names(), names("x")
    with connect(node) as connection, connect(node) as observer:
        other = observer.channel()
        channel = connection.channel()
        channel.exchange_declare(internal, "direct", internal=True, auto_delete=False)
        fill(channel, queue, [b"first", b"second"])
        take_one_unacked(channel, queue)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            channel.basic_publish(internal, "k", b"refused")
        assert closed.value.reply_code == 403
        assert_first_is_back(other, queue)
        other.exchange_delete(internal)


def test_an_if_empty_delete_does_not_count_messages_out_at_consumers(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        fill(channel, queue, [b"first"])
        take_one_unacked(channel, queue)
        assert channel.queue_declare(queue, passive=True).method.message_count == 0, "ready only"
        assert channel.queue_delete(queue, if_empty=True).method.message_count == 0, "ready only"
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as gone:
            connection.channel().queue_declare(queue, passive=True)
        assert gone.value.reply_code == 404


def test_an_if_empty_delete_of_a_queue_with_a_ready_message_is_refused_406(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        fill(channel, queue, [b"first", b"second"])
        take_one_unacked(channel, queue)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.queue_delete(queue, if_empty=True)
        assert (refused.value.reply_code, refused.value.reply_text) == (
            406, f"PRECONDITION_FAILED - queue '{queue}' in vhost '/' not empty")
        connection.channel().queue_delete(queue)
