"""Direct reply-to (`amq.rabbitmq.reply-to`) as RabbitMQ's RPC tutorial and its users write
it with pika: a requester consumes the pseudo-queue with auto_ack, publishes requests with
`reply_to = amq.rabbitmq.reply-to`, and the server publishes each reply to the default
exchange with the request's (rewritten) reply_to as routing key.

Covers: round trips, many requests in flight matched by correlation id, a server on another
connection; the rewritten reply_to; the delivery fields of a reply and its place in the
channel's delivery-tag sequence; confirms of replies; mandatory replies, which count as
routed (as in RabbitMQ 4); a reply to a gone channel (confirmed, dropped); the refusals with RabbitMQ's codes and texts (an acking reply
consumer, a second one, a request without one); queue.declare of the pseudo-queue and of
addresses; cancel; and, across a leader kill, a requester on a follower that goes on.
"""

import time
import uuid

import pika
import pika.exceptions
import pytest

from berth_cluster import HOST

REPLY_QUEUE = "amq.rabbitmq.reply-to"


def connect(node):
    parameters = pika.URLParameters(node.url + "?heartbeat=0&blocked_connection_timeout=30")
    return pika.BlockingConnection(parameters)


def process_until(connection, condition, seconds=10.0, what="the replies"):
    deadline = time.monotonic() + seconds
    while not condition():
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"{what} did not arrive within {seconds} s")
        connection.process_data_events(time_limit=min(left, 0.2))


class Replier:
    """An RPC server on its own connection: answers each request on `queue` with
    `answer(body)`, to the request's reply_to, with its correlation id."""

    def __init__(self, node, queue, answer=lambda body: body.upper()):
        self.connection = connect(node)
        self.channel = self.connection.channel()
        self.channel.queue_declare(queue, auto_delete=True)
        self.reply_tos = []
        self.answer = answer
        self.channel.basic_consume(queue, self._on_request)

    def _on_request(self, channel, method, properties, body):
        self.reply_tos.append(properties.reply_to)
        channel.basic_publish("", properties.reply_to, self.answer(body),
                              pika.BasicProperties(correlation_id=properties.correlation_id))
        channel.basic_ack(method.delivery_tag)

    def serve(self):
        self.connection.process_data_events(time_limit=0)

    def close(self):
        if self.connection.is_open:
            self.connection.close()


def rpc_calls(node, server_queue, bodies, seconds=15.0):
    """Sends every body as a request through the pseudo-queue on one channel and returns
    the replies by correlation id, with the reply deliveries' method frames."""
    replier = Replier(node, server_queue)
    try:
        with connect(node) as connection:
            channel = connection.channel()
            replies = {}
            methods = []

            def on_reply(ch, method, properties, body):
                replies[properties.correlation_id] = body
                methods.append(method)

            channel.basic_consume(REPLY_QUEUE, on_reply, auto_ack=True)
            ids = {}
            for body in bodies:
                correlation = uuid.uuid4().hex
                ids[correlation] = body
                channel.basic_publish("", server_queue, body,
                                      pika.BasicProperties(reply_to=REPLY_QUEUE, correlation_id=correlation))
            deadline = time.monotonic() + seconds
            while len(replies) < len(bodies):
                assert time.monotonic() < deadline, f"{len(replies)} of {len(bodies)} replies within {seconds} s"
                replier.serve()
                connection.process_data_events(time_limit=0.05)
            return ids, replies, methods, replier.reply_tos
    finally:
        replier.close()


def test_a_request_through_the_pseudo_queue_gets_its_reply(node, names):
    ids, replies, methods, reply_tos = rpc_calls(node, names("rpc"), [b"hello"])
    assert {ids[c]: body for c, body in replies.items()} == {b"hello": b"HELLO"}
    # The server saw an address of the requester's channel, not the pseudo-queue's name.
    assert len(reply_tos) == 1
    assert reply_tos[0].startswith(REPLY_QUEUE + ".") and len(reply_tos[0]) > len(REPLY_QUEUE) + 8, reply_tos
    reply = methods[0]
    assert (reply.exchange, reply.routing_key, reply.redelivered) == ("", reply_tos[0], False)


def test_many_requests_in_flight_each_get_their_own_reply(node, names):
    bodies = [f"request {i}".encode() for i in range(200)]
    ids, replies, methods, reply_tos = rpc_calls(node, names("rpc"), bodies)
    assert {ids[c]: body for c, body in replies.items()} == {body: body.upper() for body in bodies}
    assert len(set(reply_tos)) == 1, "one channel, one address"


def test_replies_share_the_channels_delivery_tags_with_its_gets(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        channel.queue_declare(queue, auto_delete=True)
        got = []
        channel.basic_consume(REPLY_QUEUE, lambda ch, m, p, b: got.append(m.delivery_tag), auto_ack=True)
        channel.confirm_delivery()
        channel.basic_publish("", queue, b"stored")
        method, _, _ = channel.basic_get(queue, auto_ack=True)
        assert method.delivery_tag == 1
        address = channel.queue_declare(REPLY_QUEUE, passive=True).method.queue
        assert address == REPLY_QUEUE
        # The channel's own address, as a request would carry it: publish a request to a
        # queue, read it back, and reply to its reply_to.
        channel.basic_publish("", queue, b"request", pika.BasicProperties(reply_to=REPLY_QUEUE))
        method, properties, _ = channel.basic_get(queue, auto_ack=True)
        assert method.delivery_tag == 2
        channel.basic_publish("", properties.reply_to, b"reply")
        process_until(connection, lambda: got, what="the reply")
        assert got == [3]


def pending_request(requester, server, queue):
    """A request on `queue` from a requester channel with a reply consumer, taken by a
    confirming server channel: returns the requester's channel, the replies it gets, the
    server's channel and the request's reply_to."""
    channel = requester.channel()
    replies = []
    channel.basic_consume(REPLY_QUEUE, lambda ch, m, p, b: replies.append(b), auto_ack=True)
    channel.queue_declare(queue, auto_delete=True)
    channel.basic_publish("", queue, b"ping", pika.BasicProperties(reply_to=REPLY_QUEUE))
    channel.queue_declare(queue, passive=True)  # the request is in before the server looks
    server_channel = server.channel()
    server_channel.confirm_delivery()
    method, properties, _ = server_channel.basic_get(queue, auto_ack=True)
    assert method is not None
    return channel, replies, server_channel, properties.reply_to


def test_a_reply_is_confirmed_to_its_publisher(node, names):
    with connect(node) as requester, connect(node) as server:
        _, replies, server_channel, reply_to = pending_request(requester, server, names())
        server_channel.basic_publish("", reply_to, b"pong")  # raises if nacked
        process_until(requester, lambda: replies, what="the reply")
        assert replies == [b"pong"]


@pytest.mark.newer_than_3_10("a mandatory reply is returned 312 NO_ROUTE although delivered")
def test_a_mandatory_reply_counts_as_routed_and_is_not_returned(node, names):
    with connect(node) as requester, connect(node) as server:
        channel, replies, server_channel, reply_to = pending_request(requester, server, names())
        server_channel.basic_publish("", reply_to, b"pong", mandatory=True)  # raises if returned
        process_until(requester, lambda: replies, what="the reply")
        assert replies == [b"pong"]
        # Not even when its requester is gone: whether it is there is not checked at routing.
        channel.close()
        server_channel.basic_publish("", reply_to, b"nobody listens", mandatory=True)


def test_a_reply_to_a_closed_channel_is_confirmed_and_dropped(node, names):
    queue = names()
    with connect(node) as requester, connect(node) as server:
        channel = requester.channel()
        channel.basic_consume(REPLY_QUEUE, lambda *args: None, auto_ack=True)
        channel.queue_declare(queue, auto_delete=False)
        channel.basic_publish("", queue, b"ping", pika.BasicProperties(reply_to=REPLY_QUEUE))
        channel.queue_declare(queue, passive=True)  # the publish is in before the close
        channel.close()
        server_channel = server.channel()
        server_channel.confirm_delivery()
        method, properties, _ = server_channel.basic_get(queue, auto_ack=True)
        server_channel.queue_delete(queue)
        server_channel.basic_publish("", properties.reply_to, b"nobody listens")  # raises if nacked
        assert server_channel.is_open and server.is_open


def test_a_reply_consumer_that_acknowledges_is_refused_406(node):
    with connect(node) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.basic_consume(REPLY_QUEUE, lambda *args: None, auto_ack=False)
            connection.process_data_events(time_limit=2)
        assert (refused.value.reply_code, refused.value.reply_text) == (406, "PRECONDITION_FAILED - reply consumer cannot acknowledge")
        assert connection.is_open


def test_a_second_reply_consumer_on_a_channel_is_refused_406(node):
    with connect(node) as connection:
        channel = connection.channel()
        channel.basic_consume(REPLY_QUEUE, lambda *args: None, auto_ack=True)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.basic_consume(REPLY_QUEUE, lambda *args: None, auto_ack=True)
            connection.process_data_events(time_limit=2)
        assert (refused.value.reply_code, refused.value.reply_text) == (406, "PRECONDITION_FAILED - reply consumer already set")
        # Another channel may have its own.
        connection.channel().basic_consume(REPLY_QUEUE, lambda *args: None, auto_ack=True)


def test_a_request_from_a_channel_without_a_reply_consumer_is_refused_406(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        channel.queue_declare(queue, auto_delete=True)
        # Another channel's reply consumer does not count.
        connection.channel().basic_consume(REPLY_QUEUE, lambda *args: None, auto_ack=True)
        channel.basic_publish("", queue, b"request", pika.BasicProperties(reply_to=REPLY_QUEUE))
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.queue_declare(queue, passive=True)
        assert (refused.value.reply_code, refused.value.reply_text) == (406, "PRECONDITION_FAILED - fast reply consumer does not exist")
        check = connection.channel()
        assert check.queue_declare(queue, passive=True).method.message_count == 0, "the refused request is not stored"


def test_declare_answers_for_the_pseudo_queue_and_live_addresses_only(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        ok = channel.queue_declare(REPLY_QUEUE).method
        assert (ok.queue, ok.message_count, ok.consumer_count) == (REPLY_QUEUE, 0, 1)
        channel.basic_consume(REPLY_QUEUE, lambda *args: None, auto_ack=True)
        channel.queue_declare(queue, auto_delete=True)
        channel.basic_publish("", queue, b"request", pika.BasicProperties(reply_to=REPLY_QUEUE))
        _, properties, _ = channel.basic_get(queue, auto_ack=True)
        address = properties.reply_to
        other = connection.channel()
        ok = other.queue_declare(address, passive=True).method
        assert (ok.queue, ok.message_count, ok.consumer_count) == (address, 0, 1)
        ok = other.queue_declare(address, durable=True).method  # every such declare is passive
        assert (ok.queue, ok.consumer_count) == (address, 1)
        unknown = REPLY_QUEUE + ".no-such-address"
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            other.queue_declare(unknown, passive=True)
        assert (refused.value.reply_code, refused.value.reply_text) == (404, f"NOT_FOUND - no queue '{unknown}' in vhost '/'")


def test_a_cancelled_reply_consumer_gives_up_its_address(node, names):
    queue = names()
    with connect(node) as connection:
        channel = connection.channel()
        tag = channel.basic_consume(REPLY_QUEUE, lambda *args: None, auto_ack=True)
        channel.queue_declare(queue, auto_delete=True)
        channel.basic_publish("", queue, b"request", pika.BasicProperties(reply_to=REPLY_QUEUE))
        _, properties, _ = channel.basic_get(queue, auto_ack=True)
        channel.basic_cancel(tag)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            connection.channel().queue_declare(properties.reply_to, passive=True)
        assert refused.value.reply_code == 404
        # A new reply consumer on the same channel is allowed again.
        channel.basic_consume(REPLY_QUEUE, lambda *args: None, auto_ack=True)


@pytest.mark.leader_change
@pytest.mark.seconds(120)
def test_a_requester_on_a_follower_goes_on_across_a_leader_kill(cluster, names):
    leader = cluster.leader() or cluster.wait_for_leader()
    follower = next(n for n in cluster.nodes if n is not leader)
    survivor = next(n for n in cluster.nodes if n is not leader and n is not follower)

    class At:
        def __init__(self, node):
            self.url = f"amqp://guest:guest@{HOST}:{node.amqp_port}/"

    queue = names("rpc")
    with connect(At(follower)) as connection:
        channel = connection.channel()
        replies = {}
        channel.basic_consume(REPLY_QUEUE, lambda ch, m, p, b: replies.__setitem__(p.correlation_id, b), auto_ack=True)

        def call(replier, body):
            correlation = uuid.uuid4().hex
            channel.basic_publish("", queue, body, pika.BasicProperties(reply_to=REPLY_QUEUE, correlation_id=correlation))
            deadline = time.monotonic() + 30
            while correlation not in replies:
                assert time.monotonic() < deadline, "no reply within 30 s"
                replier.serve()
                connection.process_data_events(time_limit=0.05)
            return replies[correlation]

        replier = Replier(At(survivor), queue)
        try:
            assert call(replier, b"before") == b"BEFORE"
        finally:
            replier.close()
        cluster.kill(leader)
        cluster.wait_for_leader()
        # The server reconnects (its node may have changed roles); the requester's connection
        # and its reply consumer carried over to the new leader.
        deadline = time.monotonic() + 30
        while True:
            try:
                replier = Replier(At(survivor), queue)
                break
            except pika.exceptions.AMQPError:
                assert time.monotonic() < deadline, "the server could not reconnect within 30 s"
                time.sleep(0.2)
        try:
            assert call(replier, b"after") == b"AFTER"
        finally:
            replier.close()
