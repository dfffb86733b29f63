"""rabbitpy 3.0 scenarios: what an application written with rabbitpy's object API
(Connection, Channel, Queue, Exchange, Message, Tx) and its simple helpers
(rabbitpy.publish / get / consume / create_queue / ...) sees.

Covered: message properties round trips (rabbitpy's opinionated message_id and
timestamp, headers tables, JSON bodies), publisher confirms and mandatory returns,
nack / reject / recover with and without requeue (redelivered flag, dead-lettering with
x-death), the Queue.consume() iterator with prefetch, ack and a clean cancel, a
server-sent cancel, queue counts, max-length and message TTL arguments, several channels
on one connection, a 20 MB message, transactions, topic / headers / exchange-to-exchange
routing, and the channel errors 404, 405 and 406 as rabbitpy's exceptions, after which
the connection stays usable on a new channel.

Every wait is bounded: Queue.get is a single round trip, consuming loops stop at a known
count (under the harness's watchdog), and anything asynchronous is polled against a
deadline. Publishes that a later check depends on are confirmed first.
"""

import contextlib
import datetime
import hashlib
import threading
import time
import uuid

import pytest
import rabbitpy
from rabbitpy import exceptions as rpex


# --------------------------------------------------------------------------------------
# Helpers


@contextlib.contextmanager
def connection(node):
    conn = rabbitpy.Connection(node.url)
    try:
        yield conn
    finally:
        if not conn.closed:
            conn.close()


@contextlib.contextmanager
def cleanup(node, queues=(), exchanges=()):
    """Deletes the named queues and exchanges afterwards, on a connection of its own."""
    try:
        yield
    finally:
        with connection(node) as conn:
            ch = conn.channel()
            for name in queues:
                rabbitpy.Queue(ch, name).delete()
            for name in exchanges:
                rabbitpy.Exchange(ch, name).delete()
            ch.close()


def get_within(queue, seconds=5.0, acknowledge=True):
    """Queue.get until a message comes (for a message that travels asynchronously, e.g.
    dead-lettered), or None at the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        message = queue.get(acknowledge)
        if message is not None or time.monotonic() > deadline:
            return message
        time.sleep(0.02)


def confirmed_channel(conn):
    ch = conn.channel()
    ch.enable_publisher_confirms()
    return ch


def publish_confirmed(ch, exchange, routing_key, bodies, properties=None):
    for body in bodies:
        assert rabbitpy.Message(ch, body, dict(properties or {})).publish(exchange, routing_key) is True


def reply_code(error):
    """The reply code of the Channel.Close a rabbitpy AMQPException carries."""
    return error.args[0].reply_code


# --------------------------------------------------------------------------------------
# Messages and properties


def test_message_properties_round_trip_with_opinionated_id_and_timestamp(node, names):
    headers = {"int": 7, "str": "text", "float": 1.5, "bool": True, "list": [1, "two"], "table": {"k": "v"}}
    sent = {
        "headers": headers,
        "app_id": "billing",
        "content_type": "text/plain",
        "content_encoding": "utf-8",
        "correlation_id": "corr-1",
        "reply_to": "replies",
        "message_type": "invoice.created",
        "priority": 3,
        "delivery_mode": 2,
        "expiration": "60000",
        "user_id": "guest",
    }
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        queue = rabbitpy.Queue(ch, names(), exclusive=True)
        queue.declare()
        message = rabbitpy.Message(ch, "hello", dict(sent), opinionated=True)
        message_id = message.properties["message_id"]
        timestamp = message.properties["timestamp"]
        uuid.UUID(message_id)  # rabbitpy generates a UUID
        assert message.publish("", queue.name) is True

        got = queue.get()
        assert got is not None
        assert bytes(got.body) == b"hello"
        assert got.routing_key == queue.name
        assert got.exchange == ""
        assert got.redelivered is False
        for key, value in sent.items():
            assert got.properties[key] == value, key
        assert got.properties["message_id"] == message_id
        # AMQP timestamps carry whole seconds.
        assert got.properties["timestamp"] == timestamp.replace(microsecond=0)
        got.ack()
        assert len(queue) == 0


def test_publisher_confirm_returns_true_and_queue_length_counts_at_once(node, names):
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        queue = rabbitpy.Queue(ch, names(), durable=True)
        with cleanup(node, queues=[queue.name]):
            assert queue.declare() == (0, 0)
            publish_confirmed(ch, "", queue.name, [f"m{i}" for i in range(5)], {"delivery_mode": 2})
            assert len(queue) == 5
            assert queue.declare(passive=True) == (5, 0)
            assert queue.declare() == (5, 0)
            queue.purge()
            assert len(queue) == 0


def test_mandatory_unroutable_publish_raises_message_returned(node, names):
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        nowhere = names("nowhere")
        with pytest.raises(rpex.MessageReturnedException) as raised:
            rabbitpy.Message(ch, "lost").publish("", nowhere, mandatory=True)
        assert raised.value.args == (312, "NO_ROUTE", "", nowhere)
        # The connection goes on (rabbitpy leaves the returned message's Basic.Ack unread
        # on that channel, so a fresh channel confirms the next publish).
        ch = confirmed_channel(conn)
        queue = rabbitpy.Queue(ch, names(), exclusive=True)
        queue.declare()
        assert rabbitpy.Message(ch, "kept").publish("", queue.name, mandatory=True) is True
        assert len(queue) == 1


# --------------------------------------------------------------------------------------
# Acknowledgements


def test_nacked_with_requeue_is_redelivered_flagged_redelivered(node, names):
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        queue = rabbitpy.Queue(ch, names(), exclusive=True)
        queue.declare()
        # A dict body: rabbitpy publishes it as JSON.
        assert rabbitpy.Message(ch, {"order": 42}, {"message_id": "m-1"}).publish("", queue.name) is True
        first = queue.get()
        assert first is not None and first.redelivered is False
        first.nack(requeue=True)
        second = queue.get()
        assert second is not None
        assert second.redelivered is True
        assert second.json() == {"order": 42}
        assert second.properties["content_type"] == "application/json"
        assert second.properties["message_id"] == "m-1"
        second.ack()
        assert queue.get() is None


def test_nack_without_requeue_discards(node, names):
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        queue = rabbitpy.Queue(ch, names(), exclusive=True)
        queue.declare()
        assert rabbitpy.Message(ch, "gone").publish("", queue.name) is True
        got = queue.get()
        assert got is not None
        got.nack(requeue=False)
        assert queue.get() is None
        assert len(queue) == 0


def test_nack_without_requeue_dead_letters_with_x_death(node, names):
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        dlx = rabbitpy.FanoutExchange(ch, names("dlx"))
        dlx.declare()
        with cleanup(node, exchanges=[dlx.name]):
            dead = rabbitpy.Queue(ch, names("dead"), exclusive=True)
            dead.declare()
            dead.bind(dlx)
            work = rabbitpy.Queue(ch, names("work"), exclusive=True, dead_letter_exchange=dlx.name)
            work.declare()
            before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
            assert rabbitpy.Message(ch, "poison", {"headers": {"attempt": 1}, "expiration": "60000"}).publish("", work.name) is True
            got = work.get()
            assert got is not None
            got.nack(requeue=False)

            dead_lettered = get_within(dead)
            assert dead_lettered is not None
            assert bytes(dead_lettered.body) == b"poison"
            assert dead_lettered.routing_key == work.name
            assert dead_lettered.exchange == dlx.name
            headers = dead_lettered.properties["headers"]
            assert headers["attempt"] == 1
            assert headers["x-first-death-reason"] == "rejected"
            assert headers["x-first-death-queue"] == work.name
            assert headers["x-first-death-exchange"] == ""
            (death,) = headers["x-death"]
            when = death.pop("time")
            assert before - datetime.timedelta(seconds=5) <= when <= before + datetime.timedelta(seconds=30)
            assert death == {
                "count": 1,
                "reason": "rejected",
                "queue": work.name,
                "exchange": "",
                "routing-keys": [work.name],
                "original-expiration": "60000",
            }
            # A dead-lettered message loses its per-message TTL.
            assert "expiration" not in dead_lettered.properties
            dead_lettered.ack()
            assert len(work) == 0


def test_rejected_with_requeue_comes_back_and_without_requeue_is_dropped(node, names):
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        queue = rabbitpy.Queue(ch, names(), exclusive=True)
        queue.declare()
        assert rabbitpy.Message(ch, "r").publish("", queue.name) is True
        first = queue.get()
        assert first is not None
        first.reject(requeue=True)
        second = queue.get()
        assert second is not None and second.redelivered is True
        second.reject()  # rabbitpy's default: requeue=False
        assert queue.get() is None


# --------------------------------------------------------------------------------------
# Consuming


def test_consume_iterator_honours_prefetch_acks_and_cancels_on_break(node, names):
    with connection(node) as conn:
        ch = conn.channel()
        probe = conn.channel()
        queue = rabbitpy.Queue(ch, names(), exclusive=True)
        queue.declare()
        publish_confirmed(confirmed_channel(conn), "", queue.name, [f"m{i}" for i in range(6)])
        counts = rabbitpy.Queue(probe, queue.name)

        seen = []
        held = []
        for message in queue.consume(prefetch=2):
            seen.append(bytes(message.body))
            held.append(message)
            if len(held) == 2:
                # Two unacked deliveries fill the prefetch window: the rest stay ready.
                assert counts.declare(passive=True) == (6 - len(seen), 1)
                for m in held:
                    m.ack()
                held.clear()
            if len(seen) == 6:
                break
        assert seen == [f"m{i}".encode() for i in range(6)]
        assert queue.consuming is False
        # Leaving the loop cancelled the consumer; nothing is left.
        assert counts.declare(passive=True) == (0, 0)


def test_consume_delivers_message_published_after_it_started(node, names):
    with connection(node) as conn:
        ch = conn.channel()
        queue = rabbitpy.Queue(ch, names(), exclusive=True)
        queue.declare()
        publisher = conn.channel()

        consumers_seen = []

        def publish_later():
            # Published only once the consumer is registered (the consumer count says so).
            deadline = time.monotonic() + 10
            probe = rabbitpy.Queue(publisher, queue.name)
            while (counts := probe.declare(passive=True)) == (0, 0) and time.monotonic() < deadline:
                time.sleep(0.02)
            consumers_seen.append(counts)
            rabbitpy.Message(publisher, "late").publish("", queue.name)

        thread = threading.Thread(target=publish_later, daemon=True)
        thread.start()
        for message in queue.consume():
            assert bytes(message.body) == b"late"
            assert message.redelivered is False
            message.ack()
            break
        thread.join(10)
        assert not thread.is_alive()
        assert consumers_seen == [(0, 1)]
        assert rabbitpy.Queue(publisher, queue.name).declare(passive=True) == (0, 0)


def test_deleting_the_queue_cancels_the_consumer_with_remote_cancellation(node, names):
    with connection(node) as conn:
        ch = conn.channel()
        queue = rabbitpy.Queue(ch, names(), durable=True)
        queue.declare()
        with cleanup(node, queues=[queue.name]):
            admin = conn.channel()
            publish_confirmed(confirmed_channel(conn), "", queue.name, ["only"])
            with pytest.raises(rpex.RemoteCancellationException):
                for message in queue.consume():
                    assert bytes(message.body) == b"only"
                    message.ack()
                    # Deleted under the consumer: RabbitMQ sends it a Basic.Cancel.
                    rabbitpy.Queue(admin, queue.name).delete()
            assert queue.consumer_tag not in ch.consumers
            with pytest.raises(rpex.AMQPNotFound):
                rabbitpy.Queue(admin, queue.name).declare(passive=True)


def test_recover_requeues_unacked_and_ack_all_previous_settles_both(node, names):
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        queue = rabbitpy.Queue(ch, names(), exclusive=True)
        queue.declare()
        publish_confirmed(ch, "", queue.name, ["a", "b"])
        assert queue.get() is not None and queue.get() is not None
        assert queue.get() is None
        ch.recover(requeue=True)
        again = [queue.get(), queue.get()]
        assert [bytes(m.body) for m in again] == [b"a", b"b"]
        assert all(m.redelivered for m in again)
        again[1].ack(all_previous=True)
        probe = conn.channel()
        ch.close()  # nothing unacked is left to requeue
        assert rabbitpy.Queue(probe, queue.name).declare(passive=True) == (0, 0)


def test_queue_max_length_drops_oldest_and_ttl_dead_letters_expired(node, names):
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        capped = rabbitpy.Queue(ch, names("capped"), exclusive=True, max_length=2)
        capped.declare()
        publish_confirmed(ch, "", capped.name, ["one", "two", "three"])
        assert len(capped) == 2
        assert [bytes(capped.get(False).body) for _ in range(2)] == [b"two", b"three"]

        dlx = rabbitpy.DirectExchange(ch, names("dlx"))
        dlx.declare()
        with cleanup(node, exchanges=[dlx.name]):
            expired = rabbitpy.Queue(ch, names("expired"), exclusive=True)
            expired.declare()
            expired.bind(dlx, "timed-out")
            short = rabbitpy.Queue(ch, names("short"), exclusive=True, message_ttl=100,
                                   dead_letter_exchange=dlx.name, dead_letter_routing_key="timed-out")
            short.declare()
            publish_confirmed(ch, "", short.name, ["stale"])
            got = get_within(expired)
            assert got is not None
            assert bytes(got.body) == b"stale"
            assert got.routing_key == "timed-out"
            (death,) = got.properties["headers"]["x-death"]
            assert (death["reason"], death["queue"], death["count"]) == ("expired", short.name, 1)
            assert got.properties["headers"]["x-first-death-reason"] == "expired"
            got.ack()
            assert len(short) == 0


# --------------------------------------------------------------------------------------
# Channels and large messages


def test_several_channels_on_one_connection_in_turn_and_at_once(node, names):
    with connection(node) as conn:
        # In turn: each channel opened, used and closed before the next.
        in_turn = names("turn")
        for i in range(3):
            ch = confirmed_channel(conn)
            queue = rabbitpy.Queue(ch, in_turn, exclusive=(i == 0), auto_delete=False)
            if i == 0:
                queue.declare()
            assert rabbitpy.Message(ch, f"turn{i}").publish("", in_turn) is True
            assert len(queue) == i + 1
            ch.close()

        # At once: three threads, each on its own channel and queue.
        channels = [confirmed_channel(conn) for _ in range(3)]
        queues = []
        for i, ch in enumerate(channels):
            queue = rabbitpy.Queue(ch, names(f"at-once{i}"), exclusive=True)
            queue.declare()
            queues.append(queue)
        errors = []

        def work(ch, queue, i):
            try:
                publish_confirmed(ch, "", queue.name, [f"c{i}-{n}" for n in range(20)])
            except Exception as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(ch, q, i), daemon=True)
                   for i, (ch, q) in enumerate(zip(channels, queues))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors
        assert not any(t.is_alive() for t in threads)
        for i, queue in enumerate(queues):
            assert len(queue) == 20
            bodies = []
            while (message := queue.get(acknowledge=False)) is not None:
                bodies.append(bytes(message.body))
            assert bodies == [f"c{i}-{n}".encode() for n in range(20)]
        check = rabbitpy.Queue(conn.channel(), in_turn)
        assert len(check) == 3


def test_twenty_megabyte_message_round_trip(node, names):
    body = (hashlib.sha256(b"berth").digest() * (20 * 1024 * 1024 // 32 + 1))[: 20 * 1024 * 1024]
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        queue = rabbitpy.Queue(ch, names(), exclusive=True)
        queue.declare()
        assert rabbitpy.Message(ch, body, {"content_type": "application/octet-stream"}).publish("", queue.name) is True
        got = queue.get()
        assert got is not None
        assert len(got.body) == len(body)
        assert hashlib.sha256(got.body).digest() == hashlib.sha256(body).digest()
        got.ack()
        assert len(queue) == 0


# --------------------------------------------------------------------------------------
# Transactions


def test_tx_rollback_discards_and_commit_publishes(node, names):
    with connection(node) as conn:
        ch = conn.channel()
        queue = rabbitpy.Queue(ch, names(), exclusive=True)
        queue.declare()
        probe = rabbitpy.Queue(conn.channel(), queue.name)

        tx = rabbitpy.Tx(ch)
        assert tx.select() is True
        rabbitpy.Message(ch, "rolled back").publish("", queue.name)
        assert probe.declare(passive=True) == (0, 0)  # uncommitted: not enqueued
        assert tx.rollback() is True
        assert len(probe) == 0

        rabbitpy.Message(ch, "one").publish("", queue.name)
        rabbitpy.Message(ch, "two").publish("", queue.name)
        assert len(probe) == 0
        assert tx.commit() is True
        assert len(probe) == 2

        # The context manager commits on a clean exit.
        with rabbitpy.Tx(ch):
            rabbitpy.Message(ch, "three").publish("", queue.name)
        assert len(probe) == 3


def test_tx_ack_takes_effect_only_on_commit(node, names):
    with connection(node) as conn:
        ch = conn.channel()
        queue = rabbitpy.Queue(ch, names(), exclusive=True)
        queue.declare()
        rabbitpy.Message(ch, "first").publish("", queue.name)
        rabbitpy.Message(ch, "second").publish("", queue.name)
        probe = rabbitpy.Queue(conn.channel(), queue.name)
        tx = rabbitpy.Tx(ch)
        tx.select()
        first = queue.get()
        assert first is not None and bytes(first.body) == b"first"
        first.ack()
        assert tx.commit() is True
        second = queue.get()
        assert second is not None and bytes(second.body) == b"second"
        second.ack()
        # Closing the channel with the second ack uncommitted requeues that message only.
        ch.close()
        assert probe.declare(passive=True) == (1, 0)
        again = probe.get()
        assert again is not None
        assert bytes(again.body) == b"second"
        assert again.redelivered is True


# --------------------------------------------------------------------------------------
# Exchanges and bindings


def test_topic_exchange_routes_by_pattern(node, names):
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        topic = rabbitpy.TopicExchange(ch, names("topic"), auto_delete=True)
        topic.declare()
        with cleanup(node, exchanges=[topic.name]):
            errors = rabbitpy.Queue(ch, names("errors"), exclusive=True)
            errors.declare()
            errors.bind(topic, "*.error")
            eu = rabbitpy.Queue(ch, names("eu"), exclusive=True)
            eu.declare()
            eu.bind(topic, "eu.#")
            for key in ["eu.error", "us.error", "eu.info.disk", "us.info"]:
                assert rabbitpy.Message(ch, key).publish(topic, key) is True
            drained = {}
            for queue in (errors, eu):
                drained[queue] = []
                while (m := queue.get(acknowledge=False)) is not None:
                    drained[queue].append(bytes(m.body).decode())
            assert drained[errors] == ["eu.error", "us.error"]
            assert drained[eu] == ["eu.error", "eu.info.disk"]

            eu.unbind(topic, "eu.#")
            assert rabbitpy.Message(ch, "eu.error").publish(topic, "eu.error") is True
            assert get_within(errors, acknowledge=False) is not None
            assert len(eu) == 0


def test_headers_exchange_matches_all_and_any(node, names):
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        headers = rabbitpy.HeadersExchange(ch, names("headers"))
        headers.declare()
        with cleanup(node, exchanges=[headers.name]):
            every = rabbitpy.Queue(ch, names("all"), exclusive=True)
            every.declare()
            every.bind(headers, arguments={"x-match": "all", "format": "pdf", "type": "report"})
            some = rabbitpy.Queue(ch, names("any"), exclusive=True)
            some.declare()
            some.bind(headers, arguments={"x-match": "any", "format": "pdf", "type": "log"})
            for body, hdrs in [("both", {"format": "pdf", "type": "report"}),
                               ("pdf-only", {"format": "pdf"}),
                               ("log", {"type": "log"}),
                               ("none", {"format": "zip"})]:
                assert rabbitpy.Message(ch, body, {"headers": hdrs}).publish(headers, "ignored") is True
            got = {}
            for queue in (every, some):
                got[queue] = []
                while (m := queue.get(acknowledge=False)) is not None:
                    got[queue].append(bytes(m.body).decode())
            assert got[every] == ["both"]
            assert got[some] == ["both", "pdf-only", "log"]


def test_exchange_to_exchange_binding_forwards_messages(node, names):
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        source = rabbitpy.TopicExchange(ch, names("source"))
        source.declare()
        destination = rabbitpy.FanoutExchange(ch, names("destination"))
        destination.declare()
        with cleanup(node, exchanges=[source.name, destination.name]):
            destination.bind(source, "orders.*")
            queue = rabbitpy.Queue(ch, names(), exclusive=True)
            queue.declare()
            queue.bind(destination)
            assert rabbitpy.Message(ch, "forwarded").publish(source, "orders.created") is True
            assert rabbitpy.Message(ch, "not forwarded").publish(source, "payments.created") is True
            got = queue.get()
            assert got is not None
            assert bytes(got.body) == b"forwarded"
            assert got.exchange == source.name
            assert got.routing_key == "orders.created"
            got.ack()
            assert queue.get() is None

            destination.unbind(source, "orders.*")
            assert rabbitpy.Message(ch, "after unbind").publish(source, "orders.created") is True
            assert queue.get() is None


def test_server_named_exclusive_queue_gets_a_generated_name(node):
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        queue = rabbitpy.Queue(ch, exclusive=True)
        assert queue.declare() == (0, 0)
        assert queue.name.startswith("amq.gen-")
        assert rabbitpy.Message(ch, "to me").publish("", queue.name) is True
        got = queue.get()
        assert got is not None and bytes(got.body) == b"to me"


# --------------------------------------------------------------------------------------
# Errors: rabbitpy's exceptions, and the connection goes on


def assert_connection_usable(conn, names):
    ch = confirmed_channel(conn)
    queue = rabbitpy.Queue(ch, names("after-error"), exclusive=True)
    assert queue.declare() == (0, 0)
    assert rabbitpy.Message(ch, "still here").publish("", queue.name) is True
    got = queue.get()
    assert got is not None and bytes(got.body) == b"still here"


def test_passive_declare_of_missing_queue_raises_not_found(node, names):
    with connection(node) as conn:
        ch = conn.channel()
        missing = names("missing")
        with pytest.raises(rpex.AMQPNotFound) as raised:
            rabbitpy.Queue(ch, missing).declare(passive=True)
        assert reply_code(raised.value) == 404
        assert raised.value.args[0].reply_text == f"NOT_FOUND - no queue '{missing}' in vhost '/'"
        assert_connection_usable(conn, names)


def test_publish_to_missing_exchange_raises_not_found(node, names):
    with connection(node) as conn:
        ch = confirmed_channel(conn)
        missing = names("no-exchange")
        with pytest.raises(rpex.AMQPNotFound) as raised:
            rabbitpy.Message(ch, "x").publish(missing, "key")
        assert reply_code(raised.value) == 404
        assert raised.value.args[0].reply_text == f"NOT_FOUND - no exchange '{missing}' in vhost '/'"

        # Without confirms the publish returns at once; the channel's next RPC raises.
        ch = conn.channel()
        assert rabbitpy.Message(ch, "x").publish(missing, "key") is None
        with pytest.raises(rpex.AMQPNotFound) as raised:
            rabbitpy.Queue(ch, names("any"), exclusive=True).declare()
        assert reply_code(raised.value) == 404
        assert raised.value.args[0].reply_text == f"NOT_FOUND - no exchange '{missing}' in vhost '/'"
        assert_connection_usable(conn, names)


def test_redeclare_with_other_arguments_and_delete_if_empty_raise_precondition_failed(node, names):
    with connection(node) as conn:
        ch = conn.channel()
        name = names()
        rabbitpy.Queue(ch, name, exclusive=True, max_length=10).declare()
        with pytest.raises(rpex.AMQPPreconditionFailed) as raised:
            rabbitpy.Queue(conn.channel(), name, exclusive=True, max_length=20).declare()
        assert reply_code(raised.value) == 406
        assert raised.value.args[0].reply_text.startswith("PRECONDITION_FAILED - inequivalent arg 'x-max-length'")
        # The queue and its first channel are untouched.
        queue = rabbitpy.Queue(ch, name)
        assert len(queue) == 0

        publish_confirmed(confirmed_channel(conn), "", name, ["keep"])
        with pytest.raises(rpex.AMQPPreconditionFailed) as raised:
            rabbitpy.Queue(conn.channel(), name).delete(if_empty=True)
        assert reply_code(raised.value) == 406
        assert len(queue) == 1
        assert_connection_usable(conn, names)


def test_exclusive_queue_of_another_connection_raises_resource_locked(node, names):
    name = names()
    with connection(node) as other:
        with connection(node) as owner:
            owned = rabbitpy.Queue(owner.channel(), name, exclusive=True)
            owned.declare()
            attempts = {
                "declare": lambda q: q.declare(),
                "passive declare": lambda q: q.declare(passive=True),
                "get": lambda q: q.get(),
                "consume": lambda q: next(iter(q.consume())),
            }
            for what, attempt in attempts.items():
                queue = rabbitpy.Queue(other.channel(), name, exclusive=(what == "declare"))
                with pytest.raises(rpex.AMQPResourceLocked) as raised:
                    attempt(queue)
                assert reply_code(raised.value) == 405, what
                assert raised.value.args[0].reply_text.startswith(
                    f"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{name}' in vhost '/'"), what
            # Publishing to it is allowed.
            assert rabbitpy.Message(confirmed_channel(other), "from other").publish("", name) is True
            assert len(owned) == 1
            assert_connection_usable(other, names)
        # The owner closed: its exclusive queue goes away.
        deadline = time.monotonic() + 5
        while True:
            try:
                rabbitpy.Queue(other.channel(), name).declare(passive=True)
            except rpex.AMQPNotFound:
                break
            assert time.monotonic() < deadline, "the exclusive queue outlived its connection"
            time.sleep(0.02)


# --------------------------------------------------------------------------------------
# The simple API


def test_simple_api_creates_publishes_gets_consumes_and_deletes(node, names):
    name = names()
    rabbitpy.create_queue(node.url, name, durable=False)
    with cleanup(node, queues=[name]):
        assert rabbitpy.publish(node.url, "", name, "one", {"app_id": "simple"}, confirm=True) is True
        assert rabbitpy.publish(node.url, "", name, "two", confirm=True) is True
        rabbitpy.publish(node.url, "", name, "three")  # without confirms: returns None

        first = rabbitpy.get(node.url, name)
        assert first is not None
        assert bytes(first.body) == b"one"
        assert first.properties["app_id"] == "simple"

        bodies = []
        for message in rabbitpy.consume(node.url, name, prefetch=1):
            bodies.append(bytes(message.body))
            message.ack()
            if len(bodies) == 2:
                break
        assert bodies == [b"two", b"three"]
        assert rabbitpy.get(node.url, name) is None

        with pytest.raises(rpex.MessageReturnedException):
            # The helper's confirm mode publishes mandatory.
            rabbitpy.publish(node.url, "", names("nowhere"), "lost", confirm=True)

    with connection(node) as conn:
        with pytest.raises(rpex.AMQPNotFound):
            rabbitpy.Queue(conn.channel(), name).declare(passive=True)

    exchange = names("simple-topic")
    rabbitpy.create_topic_exchange(node.url, exchange, durable=False)
    try:
        with connection(node) as conn:
            rabbitpy.TopicExchange(conn.channel(), exchange).declare(passive=True)
    finally:
        rabbitpy.delete_exchange(node.url, exchange)
    with connection(node) as conn:
        with pytest.raises(rpex.AMQPNotFound):
            rabbitpy.TopicExchange(conn.channel(), exchange).declare(passive=True)
