"""kombu 5.7 (on py-amqp) as Celery uses it.

Producer.publish with `declare=[Queue]`, the json serializer and a retry policy (including a
reconnect after the socket drops); Consumer callbacks with drain_events and acks;
SimpleQueue; requeue and reject (discarded, or dead-lettered with `x-death`); prefetch 1 with
late acks; Celery's pidbox broadcast (a fanout exchange, auto-delete queues with `x-expires`
and `x-message-ttl`, replies through a direct reply exchange) and kombu's Broadcast; priority
queues; heartbeats; passive declares counting confirmed messages and consumers; direct and
topic exchanges; maybe_declare; mandatory returns; 404 on a missing exchange (with and
without confirms). The `leader_change` test publishes with failover URLs, retries and
confirms across a leader kill and checks that every confirmed message is in the queue.
"""

import socket
import threading
import time

import amqp.exceptions
import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue, binding
from kombu.common import Broadcast, maybe_declare
from kombu.pidbox import Mailbox

# A bounded retry policy (kombu's Connection.ensure keywords), as Celery's
# `broker_transport_options` / `task_publish_retry_policy` give it.
RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


# --- helpers -----------------------------------------------------------------------------


def connect(url, **options):
    return Connection(url, connect_timeout=5, **options)


def confirming(url, **options):
    """A connection whose every publish waits for the broker's confirm (kombu's
    `confirm_publish` transport option). RabbitMQ counts a message in a passive declare or a
    purge only once it has routed it, which a plain publish does not wait for: 5 publishes
    then `queue.declare(passive=True)` on the same channel counts anything from 0 to 5."""
    return connect(url, transport_options={"confirm_publish": True}, **options)


def drain_until(conn, done, timeout=5.0):
    """Drains the connection's events until `done()` holds; fails past `timeout`."""
    deadline = time.monotonic() + timeout
    while not done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"condition not met within {timeout} s")
        try:
            conn.drain_events(timeout=remaining)
        except socket.timeout:
            pass


def drain_for(conn, seconds):
    """Drains whatever arrives during `seconds` (to show that nothing more does)."""
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            conn.drain_events(timeout=remaining)
        except socket.timeout:
            return


def ready_count(channel, queue):
    """`queue.declare(passive=True)`: (ready messages, consumers)."""
    _, messages, consumers = queue(channel).queue_declare(passive=True)
    return messages, consumers


class Declared:
    """What a test declared, deleted on a fresh connection at teardown."""

    def __init__(self, url):
        self.url = url
        self.queues = []
        self.exchanges = []

    def queue(self, queue):
        self.queues.append(queue.name if isinstance(queue, Queue) else queue)
        return queue

    def exchange(self, exchange):
        self.exchanges.append(exchange.name if isinstance(exchange, Exchange) else exchange)
        return exchange

    def delete(self):
        with connect(self.url) as conn:
            for name in self.queues:
                with conn.channel() as channel:
                    try:
                        channel.queue_delete(name)
                    except conn.channel_errors:
                        pass
            for name in self.exchanges:
                with conn.channel() as channel:
                    try:
                        channel.exchange_delete(name)
                    except conn.channel_errors:
                        pass


@pytest.fixture
def declared(node):
    entities = Declared(node.url)
    yield entities
    entities.delete()


def collector():
    """A consumer callback that keeps (body, message) pairs."""
    received = []

    def on_message(body, message):
        received.append((body, message))

    return received, on_message


# --- publishing and consuming -------------------------------------------------------------


def test_publish_with_declare_json_and_retry_policy_round_trips_body_and_properties(node, names, declared):
    exchange = declared.exchange(Exchange(names("x"), type="direct"))
    queue = declared.queue(Queue(names("q"), exchange, routing_key="tasks.add"))
    body = {"id": "7f6e", "task": "tasks.add", "args": [2, 3], "kwargs": {"unit": "€"}}
    with connect(node.url) as conn:
        producer = Producer(conn)
        producer.publish(body, exchange=exchange, routing_key="tasks.add", declare=[queue],
                         serializer="json", retry=True, retry_policy=RETRY_POLICY,
                         headers={"task": "tasks.add", "retries": 0, "eta": None},
                         correlation_id="7f6e", reply_to="replies.7f6e", priority=3, delivery_mode=2)
        received, on_message = collector()
        with Consumer(conn, [queue], callbacks=[on_message], accept=["json"]):
            drain_until(conn, lambda: received)
            got, message = received[0]
            assert got == body
            assert message.content_type == "application/json"
            assert message.content_encoding == "utf-8"
            assert message.headers == {"task": "tasks.add", "retries": 0, "eta": None}
            assert message.properties["correlation_id"] == "7f6e"
            assert message.properties["reply_to"] == "replies.7f6e"
            assert message.properties["priority"] == 3
            assert message.properties["delivery_mode"] == 2
            assert message.delivery_info["exchange"] == exchange.name
            assert message.delivery_info["routing_key"] == "tasks.add"
            assert message.delivery_info["redelivered"] is False
            message.ack()
            drain_for(conn, 0.3)
            assert len(received) == 1
    with connect(node.url) as conn:
        assert ready_count(conn.default_channel, queue) == (0, 0)


def test_publish_with_retry_reconnects_after_the_socket_drops(node, names, declared):
    queue = declared.queue(Queue(names("q"), routing_key=names("q")))
    errors = []
    policy = dict(RETRY_POLICY, errback=lambda exc, interval: errors.append(exc))
    with confirming(node.url) as conn:  # so that the first publish is in before the drop
        producer = Producer(conn, routing_key=queue.name, serializer="json")
        producer.publish({"n": 1}, declare=[queue], retry=True, retry_policy=policy)
        conn.connection.sock.shutdown(socket.SHUT_RDWR)  # the link dies under the producer
        producer.publish({"n": 2}, declare=[queue], retry=True, retry_policy=policy)
        assert errors, "the second publish did not meet the dropped socket"
        assert all(isinstance(error, OSError) for error in errors), errors
        received, on_message = collector()
        with Consumer(conn, [queue], callbacks=[on_message], accept=["json"]):
            drain_until(conn, lambda: len(received) == 2)
            for _, message in received:
                message.ack()
        assert [body for body, _ in received] == [{"n": 1}, {"n": 2}]


def test_consumer_callbacks_ack_and_unacked_deliveries_return_flagged_redelivered(node, names, declared):
    queue = declared.queue(Queue(names("q"), routing_key=names("q")))
    with connect(node.url) as conn:
        producer = Producer(conn, routing_key=queue.name, serializer="json")
        for n in range(3):
            producer.publish({"n": n}, declare=[queue])
        received, on_message = collector()
        with Consumer(conn, [queue], callbacks=[on_message], accept=["json"]):
            drain_until(conn, lambda: len(received) == 3)
            assert [body["n"] for body, _ in received] == [0, 1, 2]
            assert [m.delivery_info["redelivered"] for _, m in received] == [False] * 3
            received[0][1].ack()
            ready_count(conn.default_channel, queue)  # a round trip: the ack has arrived
    # The connection closed holding deliveries 1 and 2: they are ready again, redelivered.
    with connect(node.url) as conn:
        assert ready_count(conn.default_channel, queue) == (2, 0)
        received, on_message = collector()
        with Consumer(conn, [queue], callbacks=[on_message], accept=["json"]):
            drain_until(conn, lambda: len(received) == 2)
            assert [body["n"] for body, _ in received] == [1, 2]
            assert [m.delivery_info["redelivered"] for _, m in received] == [True, True]
            for _, message in received:
                message.ack()


def test_simple_queue_put_get_qsize_and_clear(node, names, declared):
    name = names("simple")
    declared.queue(name)
    declared.exchange(name)
    with confirming(node.url) as conn:
        with conn.SimpleQueue(name, serializer="json") as simple:
            for n in range(3):
                simple.put({"n": n})
            assert simple.qsize() == 3
            message = simple.get(block=False)  # basic.get
            assert message.payload == {"n": 0}
            assert message.delivery_info["redelivered"] is False
            message.ack()
            assert simple.qsize() == 2
            assert simple.clear() == 2
            assert simple.qsize() == 0
            with pytest.raises(simple.Empty):
                simple.get(block=False)
            simple.put({"n": 3})
            message = simple.get(timeout=5)  # basic.consume and drain_events
            assert message.payload == {"n": 3}
            message.ack()
            assert simple.qsize() == 0
            with pytest.raises(simple.Empty):
                simple.get(timeout=0.3)


def test_requeued_message_is_delivered_again_flagged_redelivered(node, names, declared):
    queue = declared.queue(Queue(names("q"), routing_key=names("q")))
    with connect(node.url) as conn:
        Producer(conn).publish({"job": 1}, routing_key=queue.name, declare=[queue], serializer="json")
        received, on_message = collector()
        with Consumer(conn, [queue], callbacks=[on_message], accept=["json"]):
            drain_until(conn, lambda: received)
            assert received[0][1].delivery_info["redelivered"] is False
            received[0][1].requeue()
            drain_until(conn, lambda: len(received) == 2)
            body, again = received[1]
            assert body == {"job": 1}
            assert again.delivery_info["redelivered"] is True
            again.ack()
            assert ready_count(conn.default_channel, queue) == (0, 1)


def test_rejected_message_without_dead_letter_exchange_is_discarded(node, names, declared):
    queue = declared.queue(Queue(names("q"), routing_key=names("q")))
    with connect(node.url) as conn:
        producer = Producer(conn, routing_key=queue.name, serializer="json")
        producer.publish({"n": "bad"}, declare=[queue])
        producer.publish({"n": "good"}, declare=[queue])
        received, on_message = collector()
        with Consumer(conn, [queue], callbacks=[on_message], accept=["json"]):
            drain_until(conn, lambda: len(received) == 2)
            received[0][1].reject()
            received[1][1].ack()
            drain_for(conn, 0.3)
            assert len(received) == 2
            assert ready_count(conn.default_channel, queue) == (0, 1)
    with connect(node.url) as conn:  # nothing was held back either
        assert ready_count(conn.default_channel, queue) == (0, 0)


def test_rejected_message_is_dead_lettered_with_x_death(node, names, declared):
    dlx = declared.exchange(Exchange(names("dlx"), type="direct"))
    dlq = declared.queue(Queue(names("dlq"), dlx, routing_key="dead"))
    work_x = declared.exchange(Exchange(names("x"), type="direct"))
    work = declared.queue(Queue(names("q"), work_x, routing_key="work", queue_arguments={
        "x-dead-letter-exchange": dlx.name, "x-dead-letter-routing-key": "dead"}))
    with connect(node.url) as conn:
        maybe_declare(dlq, conn.default_channel)
        Producer(conn).publish({"task": "t"}, exchange=work_x, routing_key="work", declare=[work],
                               serializer="json", headers={"task": "t"}, correlation_id="c-1")
        received, on_message = collector()
        with Consumer(conn, [work], callbacks=[on_message], accept=["json"]):
            drain_until(conn, lambda: received)
            received[0][1].reject()
        dead, on_dead = collector()
        with Consumer(conn, [dlq], callbacks=[on_dead], accept=["json"]):
            drain_until(conn, lambda: dead)
            body, message = dead[0]
            assert body == {"task": "t"}
            assert message.delivery_info["exchange"] == dlx.name
            assert message.delivery_info["routing_key"] == "dead"
            assert message.properties["correlation_id"] == "c-1"
            headers = dict(message.headers)
            x_death = headers.pop("x-death")
            assert headers == {"task": "t", "x-first-death-exchange": work_x.name,
                               "x-first-death-queue": work.name, "x-first-death-reason": "rejected"}
            assert len(x_death) == 1
            death = dict(x_death[0])
            assert death.pop("time") is not None
            assert death == {"count": 1, "reason": "rejected", "queue": work.name,
                             "exchange": work_x.name, "routing-keys": ["work"]}
            message.ack()
        assert ready_count(conn.default_channel, work) == (0, 0)


def test_prefetch_one_with_late_acks_holds_one_unacked_delivery_at_a_time(node, names, declared):
    queue = declared.queue(Queue(names("q"), routing_key=names("q")))
    with confirming(node.url) as conn:
        producer = Producer(conn, routing_key=queue.name, serializer="json")
        for n in range(3):
            producer.publish({"n": n}, declare=[queue])
        received, on_message = collector()
        with conn.channel() as channel:
            with Consumer(channel, [queue], callbacks=[on_message], accept=["json"], prefetch_count=1):
                for n in range(3):
                    drain_until(conn, lambda: len(received) == n + 1)
                    drain_for(conn, 0.3)  # the next one stays on the broker while this is unacked
                    assert [body["n"] for body, _ in received] == list(range(n + 1))
                    assert ready_count(conn.default_channel, queue) == (2 - n, 1)
                    received[n][1].ack()  # the task ran: acknowledge late
                drain_for(conn, 0.3)
                assert len(received) == 3
                assert ready_count(conn.default_channel, queue) == (0, 1)


# --- Celery's broadcast (pidbox) -----------------------------------------------------------


def celery_mailbox(names):
    """Celery's `app.control.mailbox`: a fanout pidbox with its default TTLs (Celery 5's
    control_queue_ttl 300 s, control_queue_expires 10 s; not exclusive, auto-delete)."""
    return Mailbox(names("celery"), type="fanout", accept=["json"], serializer="json",
                   queue_ttl=300.0, queue_expires=10.0, reply_queue_ttl=300.0,
                   reply_queue_expires=10.0, queue_exclusive=False)


def test_pidbox_broadcast_reaches_every_worker_and_collects_their_replies(node, names, declared):
    mailbox = celery_mailbox(names)
    workers = ["worker1@compat", "worker2@compat", "worker3@compat"]
    with connect(node.url) as conn:
        bound = mailbox(conn)
        declared.exchange(bound.exchange)
        declared.exchange(bound.reply_exchange)
        declared.queue(bound.reply_queue)
        listeners = []
        for hostname in workers:
            declared.queue(bound.get_queue(hostname))
            worker = bound.Node(hostname, channel=conn.channel(),
                                handlers={"ping": lambda state: "pong"})
            listeners.append(worker.listen())
        # `celery inspect ping`: a broadcast, then every reply within the timeout.
        replies = bound.multi_call("ping", timeout=1.0)
        assert sorted(replies, key=lambda r: list(r)) == [{w: "pong"} for w in workers]
        for queue_name in [bound.get_queue(w).name for w in workers]:
            assert ready_count(conn.default_channel, Queue(queue_name)) == (0, 1)
        for listener in listeners:
            listener.cancel()


def test_pidbox_queue_arguments_are_kept_and_an_inequivalent_redeclare_fails_406(node, names, declared):
    mailbox = celery_mailbox(names)
    with connect(node.url) as conn:
        bound = mailbox(conn)
        declared.exchange(bound.exchange)
        queue = declared.queue(bound.get_queue("worker1@compat"))
        queue(conn.default_channel).declare()
        # A worker restarting with the same settings redeclares it: fine.
        with conn.channel() as channel:
            assert queue(channel).queue_declare()[1:] == (0, 0)
        # One with another control_queue_expires does not.
        other = Queue(queue.name, bound.exchange, durable=False, auto_delete=True,
                      expires=20.0, message_ttl=300.0)
        with conn.channel() as channel:
            with pytest.raises(amqp.exceptions.PreconditionFailed) as error:
                other(channel).queue_declare()
            assert error.value.reply_code == 406
            assert error.value.reply_text.startswith(
                f"PRECONDITION_FAILED - inequivalent arg 'x-expires' for queue '{queue.name}'")
        assert ready_count(conn.default_channel, queue) == (0, 0)  # the connection lives on


def test_broadcast_fanout_delivers_one_copy_to_every_bound_queue(node, names, declared):
    exchange_name = names("bcast")
    declared.exchange(exchange_name)
    entities = [declared.queue(Broadcast(exchange_name, queue=names(f"w{i}"), expires=10.0, message_ttl=300.0))
                for i in range(3)]
    unbound = declared.queue(Queue(names("other"), routing_key=names("other")))
    with connect(node.url) as conn:
        received = {entity.name: [] for entity in entities}
        consumers = []
        for entity in entities:
            consumer = Consumer(conn.channel(), [entity], accept=["json"], no_ack=True,
                                callbacks=[lambda body, message, n=entity.name: received[n].append(body)])
            consumer.consume()
            consumers.append(consumer)
        maybe_declare(unbound, conn.default_channel)
        Producer(conn).publish({"cmd": "shutdown"}, exchange=entities[0].exchange,
                               routing_key="ignored", serializer="json")
        drain_until(conn, lambda: all(received.values()))
        drain_for(conn, 0.3)
        assert received == {entity.name: [{"cmd": "shutdown"}] for entity in entities}
        assert ready_count(conn.default_channel, unbound) == (0, 0)
        for consumer in consumers:
            consumer.cancel()


def test_auto_delete_queue_goes_away_when_its_last_consumer_cancels(node, names, declared):
    queue = declared.queue(Queue(names("q"), routing_key=names("q"), durable=False, auto_delete=True))
    with connect(node.url) as conn:
        consumers = [Consumer(conn.channel(), [queue], no_ack=True) for _ in range(2)]
        for consumer in consumers:
            consumer.consume()
        consumers[0].cancel()
        assert ready_count(conn.default_channel, queue) == (0, 1)
        consumers[1].cancel()
        deadline = time.monotonic() + 5
        while True:
            with conn.channel() as channel:
                try:
                    ready_count(channel, queue)
                except amqp.exceptions.NotFound as error:
                    assert error.reply_code == 404
                    break
            assert time.monotonic() < deadline, "the auto-delete queue still exists 5 s after its last cancel"
            time.sleep(0.05)


# --- queue features ------------------------------------------------------------------------


def test_priority_queue_delivers_highest_priority_first(node, names, declared):
    queue = declared.queue(Queue(names("q"), routing_key=names("q"), max_priority=10))
    published = [("a", 1), ("b", 5), ("c", 9), ("d", 3), ("e", 0), ("f", 5), ("g", 10)]
    with confirming(node.url) as conn:
        producer = Producer(conn, routing_key=queue.name, serializer="json")
        for tag, priority in published:
            producer.publish({"tag": tag}, priority=priority, declare=[queue])
        assert ready_count(conn.default_channel, queue) == (len(published), 0)
        received, on_message = collector()
        with Consumer(conn, [queue], callbacks=[on_message], accept=["json"]):
            drain_until(conn, lambda: len(received) == len(published))
            for _, message in received:
                message.ack()
        assert [body["tag"] for body, _ in received] == ["g", "c", "b", "f", "d", "a", "e"]
        assert [m.properties["priority"] for _, m in received] == [10, 9, 5, 5, 3, 1, 0]


@pytest.mark.seconds(30)
def test_heartbeats_keep_an_idle_connection_alive(node, names, declared):
    queue = declared.queue(Queue(names("q"), routing_key=names("q")))
    with connect(node.url, heartbeat=2) as conn:
        conn.connect()
        assert conn.connection.heartbeat == 2  # min(the broker's, ours)
        assert conn.get_heartbeat_interval() == 2
        received_before = conn.connection.bytes_recv
        # Idle for 2.5 intervals, ticking as Celery's event loop does: heartbeat_check
        # raises ConnectionForced if the broker's heartbeats stop for two intervals.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            conn.heartbeat_check(rate=2)
            try:
                conn.drain_events(timeout=0.5)
            except socket.timeout:
                pass
        assert conn.connection.bytes_recv > received_before, "the broker sent no heartbeat"
        assert conn.connected
        Producer(conn).publish({"alive": True}, routing_key=queue.name, declare=[queue], serializer="json")
        message = queue(conn.default_channel).get(no_ack=True, accept=["json"])
        assert message is not None and message.payload == {"alive": True}


def test_passive_declare_counts_confirmed_messages_and_consumers(node, names, declared):
    queue = declared.queue(Queue(names("q"), routing_key=names("q")))
    with confirming(node.url) as conn:
        channel = conn.channel()
        maybe_declare(queue, channel)
        producer = Producer(channel, routing_key=queue.name, serializer="json")
        for n in range(5):
            producer.publish({"n": n})
        name, messages, consumers = queue(channel).queue_declare(passive=True)
        assert (name, messages, consumers) == (queue.name, 5, 0)
        received, on_message = collector()
        with Consumer(conn.channel(), [queue], callbacks=[on_message], accept=["json"], prefetch_count=1):
            drain_until(conn, lambda: received)
            assert queue(channel).queue_declare(passive=True)[1:] == (4, 1)
            received[0][1].ack()
            drain_until(conn, lambda: len(received) == 2)
            assert queue(channel).queue_declare(passive=True)[1:] == (3, 1)
            received[1][1].ack()
        channel.close()


# --- exchanges and declarations --------------------------------------------------------------


def test_direct_exchange_routes_by_exact_routing_key(node, names, declared):
    exchange = declared.exchange(Exchange(names("x"), type="direct"))
    high = declared.queue(Queue(names("high"), exchange, routing_key="high"))
    low = declared.queue(Queue(names("low"), exchange, routing_key="low"))
    with confirming(node.url) as conn:
        producer = Producer(conn, exchange=exchange, serializer="json")
        for key in ["high", "low", "low", "high.1", "HIGH"]:
            producer.publish({"key": key}, routing_key=key, declare=[high, low])
        channel = conn.default_channel
        assert ready_count(channel, high) == (1, 0)
        assert ready_count(channel, low) == (2, 0)
        assert high(channel).get(no_ack=True).payload == {"key": "high"}
        assert [low(channel).get(no_ack=True).payload["key"] for _ in range(2)] == ["low", "low"]


def test_topic_exchange_bindings_match_words_and_hashes(node, names, declared):
    exchange = declared.exchange(Exchange(names("x"), type="topic"))
    orders = declared.queue(Queue(names("orders"), [binding(exchange, routing_key="orders.*"),
                                                    binding(exchange, routing_key="*.eu")]))
    everything = declared.queue(Queue(names("all"), exchange, routing_key="orders.#"))
    with confirming(node.url) as conn:
        channel = conn.default_channel
        maybe_declare(orders, channel)
        maybe_declare(everything, channel)
        producer = Producer(channel, exchange=exchange, serializer="json")
        for key in ["orders.eu", "orders.us.west", "billing.eu", "orders", "billing.us"]:
            producer.publish({"key": key}, routing_key=key)
        assert ready_count(channel, orders) == (2, 0)
        assert ready_count(channel, everything) == (3, 0)
        got = [orders(channel).get(no_ack=True).payload["key"] for _ in range(2)]
        assert got == ["orders.eu", "billing.eu"]  # once each, though orders.eu matches both
        got = [everything(channel).get(no_ack=True).payload["key"] for _ in range(3)]
        assert got == ["orders.eu", "orders.us.west", "orders"]


def test_maybe_declare_declares_queue_exchange_and_binding_once(node, names, declared):
    exchange = declared.exchange(Exchange(names("x"), type="direct", durable=True))
    queue = declared.queue(Queue(names("q"), exchange, routing_key="rk"))
    with connect(node.url) as conn:
        channel = conn.default_channel
        assert maybe_declare(queue, channel) is True
        assert maybe_declare(queue, channel) is False  # cached on the connection
        with conn.channel() as other:
            exchange(other).declare(passive=True)  # the exchange exists
            assert ready_count(other, queue) == (0, 0)
        Producer(channel, exchange=exchange).publish({"bound": True}, routing_key="rk", serializer="json")
        assert queue(channel).get(no_ack=True).payload == {"bound": True}


def test_mandatory_publish_without_route_is_returned_312_no_route(node, names, declared):
    exchange = declared.exchange(Exchange(names("x"), type="direct"))
    returned = []
    with connect(node.url) as conn:
        producer = Producer(conn, exchange=exchange, serializer="json",
                            on_return=lambda exc, exch, key, message: returned.append((exc, exch, key, message)))
        producer.publish({"lost": True}, routing_key="nowhere", mandatory=True, declare=[exchange])
        drain_until(conn, lambda: returned)
        error, exchange_name, routing_key, message = returned[0]
        assert (error.reply_code, error.reply_text) == (312, "NO_ROUTE")
        assert (exchange_name, routing_key) == (exchange.name, "nowhere")
        assert message.body == '{"lost": true}'  # py-amqp decodes it by its content_encoding
        assert message.properties["content_type"] == "application/json"


def test_confirmed_publish_to_a_missing_exchange_raises_not_found_and_the_connection_lives_on(node, names, declared):
    missing = names("missing")
    queue = declared.queue(Queue(names("q"), routing_key=names("q")))
    with connect(node.url, transport_options={"confirm_publish": True}) as conn:
        channel = conn.channel()
        with pytest.raises(amqp.exceptions.NotFound) as error:
            Producer(channel).publish({"x": 1}, exchange=missing, routing_key="rk", serializer="json")
        assert error.value.reply_code == 404
        assert error.value.reply_text == f"NOT_FOUND - no exchange '{missing}' in vhost '/'"
        assert error.value.method_sig == (60, 40)  # basic.publish
        # py-amqp answered close-ok and reopened the same channel number at once.
        assert channel.is_open
        Producer(channel).publish({"x": 2}, routing_key=queue.name, declare=[queue], serializer="json")
        assert queue(channel).get(no_ack=True).payload == {"x": 2}
        with conn.channel() as fresh:
            Producer(fresh).publish({"x": 3}, routing_key=queue.name, serializer="json")
            assert queue(fresh).get(no_ack=True).payload == {"x": 3}
        assert conn.connected


def test_unconfirmed_publish_to_a_missing_exchange_fails_the_channels_next_call_with_404(node, names):
    missing = names("missing")
    with connect(node.url) as conn:
        channel = conn.channel()
        Producer(channel).publish({"x": 1}, exchange=missing, routing_key="rk", serializer="json")  # no error yet
        with pytest.raises(amqp.exceptions.NotFound) as error:
            channel.basic_qos(0, 10, False)
        assert error.value.reply_code == 404
        assert error.value.reply_text == f"NOT_FOUND - no exchange '{missing}' in vhost '/'"
        assert error.value.method_sig == (60, 40)  # it names the publish, not the qos
        assert channel.is_open  # reopened by py-amqp
        channel.basic_qos(0, 10, False)
        with conn.channel() as fresh:
            fresh.basic_qos(0, 10, False)
        assert conn.connected


# --- a leader change -------------------------------------------------------------------------


@pytest.mark.leader_change
@pytest.mark.seconds(120)
def test_failover_urls_with_retry_and_confirms_lose_no_confirmed_message_across_a_leader_kill(cluster, names):
    old_leader = cluster.leader() or cluster.wait_for_leader()
    follower = next(n for n in cluster.nodes if n.running and n is not old_leader)
    url_of = lambda n: f"amqp://guest:guest@127.0.0.1:{n.amqp_port}"
    failover_url = f"{url_of(old_leader)};{url_of(follower)}"
    exchange = Exchange(names("x"), type="direct", durable=True)
    queue = Queue(names("q"), exchange, routing_key="tasks", durable=True)
    kill_after, after_kill = 20, 20
    reconnects = []
    policy = {"max_retries": 20, "interval_start": 0.2, "interval_step": 0.3, "interval_max": 1.0,
              "errback": lambda exc, interval: reconnects.append(repr(exc))}
    confirmed = []
    try:
        with Connection(failover_url, connect_timeout=5, transport_options={"confirm_publish": True}) as conn:
            producer = Producer(conn, exchange=exchange, routing_key="tasks", serializer="json")

            def publish(n):
                producer.publish({"n": n}, declare=[queue], retry=True, retry_policy=policy, confirm_timeout=15)
                confirmed.append(n)  # publish returned: the broker acked it

            for n in range(kill_after):
                publish(n)
            # The kill lands while the publishes go on (one may be in flight, unconfirmed).
            killer = threading.Thread(target=cluster.kill, args=(old_leader,))
            killer.start()
            n = kill_after
            while killer.is_alive():
                publish(n)
                n += 1
            killer.join()
            for n in range(n, n + after_kill):
                publish(n)
            total = n + 1
            assert reconnects, "no publish noticed the leader's death"
            assert conn.port == follower.amqp_port, "the producer did not fail over to the second URL"
        new_leader = cluster.wait_for_leader(other_than=old_leader)
        seen = []
        with Connection(url_of(follower), connect_timeout=5) as conn:
            def on_message(body, message):
                seen.append(body["n"])
                message.ack()

            with Consumer(conn, [queue], callbacks=[on_message], accept=["json"], prefetch_count=50):
                try:
                    drain_until(conn, lambda: set(confirmed) <= set(seen), timeout=20)
                except AssertionError:
                    pass
            missing = sorted(set(confirmed) - set(seen))
            assert not missing, (f"confirmed but not consumed: {missing}; consumed {len(seen)} "
                                 f"({len(seen) - len(set(seen))} duplicates); new leader {new_leader}; "
                                 f"reconnects {reconnects}")
            assert set(seen) <= set(range(total))
    finally:
        with Connection(url_of(follower), connect_timeout=5) as conn:
            for delete in (lambda ch: ch.queue_delete(queue.name), lambda ch: ch.exchange_delete(exchange.name)):
                with conn.channel() as channel:
                    try:
                        delete(channel)
                    except conn.channel_errors:
                        pass
