"""py-amqp (`import amqp`, the transport under kombu and Celery) used directly.

Covers: publisher confirms through `Connection(confirm_publish=True)`; every basic property
and every header value type py-amqp encodes, round-tripped through basic_publish/basic_get;
queue_declare counts; basic_consume + drain_events + basic_ack/basic_cancel; basic_reject,
basic.nack (py-amqp has no basic_nack method: sent with send_method) and basic_recover with
their redelivered flags; basic_qos prefetch; exchange-to-exchange bindings and
exchange_delete; tx_select/commit/rollback; mandatory returns; channel errors mapped to
`amqp.exceptions` with RabbitMQ's reply codes and texts (the channel reopens and the
connection stays usable); connection-level: a refused login, server_properties and the
capabilities RabbitMQ announces (and consumer priorities), tune values, heartbeats, a 20 MB
body; and the server's basic.cancel when a consumed queue is deleted.
"""

import socket
import time
from datetime import datetime
from decimal import Decimal

import amqp
import pytest
from amqp import spec
from amqp.exceptions import (AccessRefused, ChannelError, ConsumerCancelled, NotFound,
                             PreconditionFailed, ResourceLocked)

#: The capabilities RabbitMQ 3.10 announces in connection.start (all true).
RABBITMQ_CAPABILITIES = {
    "publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
    "connection.blocked", "consumer_priorities", "authentication_failure_close",
    "per_consumer_qos", "direct_reply_to",
}


def connect(node, **options):
    """An open connection to `node` (the caller closes it: `with connect(node) as conn`)."""
    options.setdefault("connect_timeout", 10)
    conn = amqp.Connection(host=f"{node.host}:{node.port}", userid="guest", password="guest",
                           **options)
    conn.connect()
    return conn


def drain_until(conn, condition, seconds=5.0, what="the expected deliveries"):
    """drain_events until `condition()` holds; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"{what} did not arrive within {seconds} s")
        try:
            conn.drain_events(timeout=min(left, 0.5))
        except socket.timeout:
            pass


def assert_nothing_arrives(conn, seconds=0.5):
    """No frame at all reaches the client within `seconds` (no heartbeats: heartbeat=0)."""
    with pytest.raises(socket.timeout):
        conn.drain_events(timeout=seconds)


def ready_count(channel, queue):
    return channel.queue_declare(queue, passive=True).message_count


def wait_ready_count(channel, queue, expected, seconds=5.0):
    """Polls queue_declare(passive) until the queue holds `expected` ready messages: a
    closed channel's unacked messages go back asynchronously (in RabbitMQ too)."""
    deadline = time.monotonic() + seconds
    while (count := ready_count(channel, queue)) != expected:
        if time.monotonic() > deadline:
            pytest.fail(f"{queue} holds {count} ready messages, not {expected}, after {seconds} s")
        time.sleep(0.02)


def get_all(channel, queue, expected, seconds=5.0):
    """basic_get `expected` messages (polling with a deadline while they are not there yet)."""
    got = []
    deadline = time.monotonic() + seconds
    while len(got) < expected:
        message = channel.basic_get(queue)
        if message is not None:
            got.append(message)
        elif time.monotonic() > deadline:
            pytest.fail(f"only {len(got)} of {expected} messages in {queue} after {seconds} s")
        else:
            time.sleep(0.02)
    return got


def nack(channel, delivery_tag, multiple=False, requeue=True):
    """basic.nack: py-amqp has no method for it; this is how its users send one."""
    channel.send_method(spec.Basic.Nack, "Lbb", (delivery_tag, multiple, requeue))


def assert_channel_usable(channel, names):
    """The (reopened) channel and its connection still work after a channel error."""
    queue = names("after-error")
    name, count, consumers = channel.queue_declare(queue, exclusive=True)
    assert (name, count, consumers) == (queue, 0, 0)
    channel.basic_publish(amqp.Message(b"still here"), routing_key=queue)
    message = get_all(channel, queue, 1)[0]
    assert message.body == b"still here"
    channel.queue_delete(queue)


def shortstr(text):
    """A reply text as RabbitMQ sends it: cut to 252 bytes plus '...' when over 255."""
    raw = text.encode()
    return text if len(raw) <= 255 else (raw[:252] + b"...").decode()


@pytest.fixture
def queue(node, names):
    """A classic, non-durable, non-auto-delete queue of this test's, declared and (after the
    test's own connections closed, so that no consumer sees a basic.cancel) deleted on a
    connection of its own."""
    name = names("q")
    with connect(node) as admin:
        admin.channel().queue_declare(name, auto_delete=False)
    yield name
    with connect(node) as admin:
        admin.channel().queue_delete(name)


# --------------------------------------------------------------------------------------
# Publishing, properties, counts


def test_confirm_publish_returns_only_once_the_broker_acked(node, queue):
    with connect(node, confirm_publish=True) as conn, connect(node) as observer:
        channel = conn.channel()
        acks = []
        channel.events["basic_ack"].add(lambda tag, multiple: acks.append((tag, multiple)))
        for i in range(5):
            channel.basic_publish(amqp.Message(f"m{i}".encode()), routing_key=queue)
            # basic_publish returned: the broker acked exactly this publish already.
            assert acks[-1][0] == i + 1
        assert [tag for tag, _ in acks] == [1, 2, 3, 4, 5]
        # Acked means enqueued: another connection counts them at once.
        assert ready_count(observer.channel(), queue) == 5


def test_every_property_and_header_type_round_trips_as_rabbitmq_returns_it(node, queue):
    stamp = datetime(2024, 2, 29, 13, 14, 15)
    headers = {
        "str": "text \u00e9\u4e2d",
        "empty-str": "",
        "bytes-utf8": b"raw bytes",
        "bytes-binary": b"\xff\x00\xfe",
        "int-zero": 0,
        "int-one": 1,
        "int-minus-one": -1,
        "int32-max": 2147483647,
        "int32-min-plus-one": -2147483647,
        "int64-above-int32": 2147483648,
        "int64-below-int32": -2147483648,
        "int64-max": 2 ** 63 - 1,
        "int64-min": -(2 ** 63),
        "true": True,
        "false": False,
        "float": 3.25,
        "float-negative": -1.5e-300,
        "decimal": Decimal("12.345"),
        "decimal-negative": Decimal("-0.07"),
        "datetime": stamp,
        "void": None,
        "table": {"nested": {"deeper": [1, "two", None]}, "n": -5},
        "array": [1, -2147483648, "s", True, 2.5, Decimal("1.5"), stamp, {"k": "v"}, [], None],
        "empty-table": {},
        "empty-array": [],
    }
    properties = dict(
        content_type="application/x-test",
        content_encoding="binary",
        application_headers=headers,
        delivery_mode=2,
        priority=7,
        correlation_id="corr-1",
        reply_to="reply.queue",
        expiration="600000",
        message_id="msg-1",
        timestamp=1700000000,
        type="test.type",
        user_id="guest",
        app_id="compat",
        cluster_id="cluster-x",
    )
    body = bytes(range(256)) * 4
    with connect(node, confirm_publish=True) as conn:
        channel = conn.channel()
        channel.basic_publish(amqp.Message(body, **properties), routing_key=queue)
        message = channel.basic_get(queue, no_ack=True)
        assert message is not None
        assert message.body == body
        assert message.delivery_info == {
            "delivery_tag": 1, "redelivered": False, "exchange": "", "routing_key": queue,
            "message_count": 0,
        }
        expected_headers = dict(headers)
        # Every string travels as a longstr 'S': py-amqp decodes valid UTF-8 to str.
        expected_headers["bytes-utf8"] = "raw bytes"
        assert message.properties["application_headers"] == expected_headers
        # Exact types too (1 == True == 1.0 in Python).
        for key, value in expected_headers.items():
            assert type(message.headers[key]) is type(value), key
        assert [type(v) for v in message.headers["array"]] == [
            type(v) for v in headers["array"]]
        assert message.properties == dict(properties, application_headers=expected_headers)


def test_message_without_properties_or_body_arrives_bare(node, queue):
    with connect(node, confirm_publish=True) as conn:
        channel = conn.channel()
        channel.basic_publish(amqp.Message(b""), routing_key=queue)
        message = channel.basic_get(queue, no_ack=True)
        assert message is not None
        assert message.body == ""  # py-amqp's empty body: no body frame, Message's default
        assert message.properties == {}


def test_queue_declare_reports_counts_right_after_publishes_on_the_same_channel(node, queue):
    # Confirmed publishes: without confirms RabbitMQ's count races the publishes (it
    # answers 0 right after three unconfirmed ones), so no client can rely on it.
    with connect(node, confirm_publish=True) as conn:
        channel = conn.channel()
        assert channel.queue_declare(queue, auto_delete=False) == (queue, 0, 0)
        for i in range(3):
            channel.basic_publish(amqp.Message(f"m{i}".encode()), routing_key=queue)
        ok = channel.queue_declare(queue, passive=True)
        assert (ok.queue, ok.message_count, ok.consumer_count) == (queue, 3, 0)
        assert channel.queue_declare(queue, auto_delete=False) == (queue, 3, 0)
        assert channel.basic_get(queue).delivery_info["message_count"] == 2
        assert channel.queue_declare(queue, passive=True) == (queue, 2, 0)
        consumer = conn.channel()
        consumer.basic_consume(queue, callback=lambda message: None)
        assert channel.queue_declare(queue, passive=True).consumer_count == 1
        generated = channel.queue_declare("", exclusive=True)
        assert generated.queue.startswith("amq.gen-")
        assert (generated.message_count, generated.consumer_count) == (0, 0)


def test_mandatory_unroutable_publish_is_returned_with_312_no_route(node, names):
    routing_key = names("nowhere")
    with connect(node, confirm_publish=True) as conn:
        channel = conn.channel()
        returned = []
        channel.events["basic_return"].add(
            lambda exc, exchange, key, message: returned.append((exc, exchange, key, message)))
        channel.basic_publish(amqp.Message(b"lost", message_id="r1"), routing_key=routing_key,
                              mandatory=True)
        # RabbitMQ sends basic.return before the ack the publish waited for.
        assert len(returned) == 1
        exc, exchange, key, message = returned[0]
        assert type(exc) is ChannelError
        assert (exc.reply_code, exc.reply_text) == (312, "NO_ROUTE")
        assert (exchange, key) == ("", routing_key)
        assert message.body == b"lost"
        assert message.properties == {"message_id": "r1"}


# --------------------------------------------------------------------------------------
# Consuming and acknowledging


def test_consumer_drains_acks_and_cancels(node, queue):
    with connect(node, confirm_publish=True) as conn:
        channel = conn.channel()
        received = []
        tag = channel.basic_consume(queue, callback=received.append)
        for i in range(3):
            channel.basic_publish(amqp.Message(f"m{i}".encode()), routing_key=queue)
        drain_until(conn, lambda: len(received) == 3)
        assert [m.body for m in received] == [b"m0", b"m1", b"m2"]
        assert [m.delivery_info["delivery_tag"] for m in received] == [1, 2, 3]
        assert {m.delivery_info["consumer_tag"] for m in received} == {tag}
        assert not any(m.delivery_info["redelivered"] for m in received)
        for message in received:
            channel.basic_ack(message.delivery_tag)
        assert channel.basic_cancel(tag) == tag
        channel.basic_publish(amqp.Message(b"after cancel"), routing_key=queue)
        assert_nothing_arrives(conn)
        ok = channel.queue_declare(queue, passive=True)
        assert (ok.message_count, ok.consumer_count) == (1, 0)


def test_consumer_priority_argument_sends_deliveries_to_the_higher_priority_consumer(node, queue):
    with connect(node, confirm_publish=True) as conn:
        channel = conn.channel()
        low, high = [], []
        channel.basic_consume(queue, callback=low.append, arguments={"x-priority": 1})
        channel.basic_consume(queue, callback=high.append, arguments={"x-priority": 10})
        for i in range(6):
            channel.basic_publish(amqp.Message(f"m{i}".encode()), routing_key=queue)
        drain_until(conn, lambda: len(low) + len(high) == 6)
        # RabbitMQ: the higher priority consumer gets all while it can take them.
        assert [m.body for m in high] == [f"m{i}".encode() for i in range(6)]
        assert low == []


def test_rejected_message_is_requeued_flagged_redelivered_or_dropped(node, queue):
    with connect(node, confirm_publish=True) as conn:
        channel = conn.channel()
        channel.basic_publish(amqp.Message(b"once"), routing_key=queue)
        first = channel.basic_get(queue)
        assert first.delivery_info["redelivered"] is False
        channel.basic_reject(first.delivery_tag, requeue=True)
        again = get_all(channel, queue, 1)[0]
        assert again.body == b"once"
        assert again.delivery_info["redelivered"] is True
        assert again.delivery_tag == first.delivery_tag + 1
        channel.basic_reject(again.delivery_tag, requeue=False)
        assert channel.basic_get(queue) is None
        assert ready_count(channel, queue) == 0


def test_nack_multiple_requeues_all_in_order_flagged_redelivered_or_drops_them(node, queue):
    with connect(node, confirm_publish=True) as conn:
        channel = conn.channel()
        for i in range(4):
            channel.basic_publish(amqp.Message(f"m{i}".encode()), routing_key=queue)
        got = [channel.basic_get(queue) for _ in range(4)]
        assert [m.delivery_tag for m in got] == [1, 2, 3, 4]
        # Up to and including tag 3, requeued; tag 4 stays unacked.
        nack(channel, 3, multiple=True, requeue=True)
        again = get_all(channel, queue, 3)
        assert [m.body for m in again] == [b"m0", b"m1", b"m2"]
        assert all(m.delivery_info["redelivered"] for m in again)
        assert [m.delivery_tag for m in again] == [5, 6, 7]
        assert channel.basic_get(queue) is None
        # Every outstanding tag (4..7), dropped.
        nack(channel, 7, multiple=True, requeue=False)
        assert ready_count(channel, queue) == 0
        # A single nack with requeue leaves the other unacked message alone.
        channel.basic_publish(amqp.Message(b"a"), routing_key=queue)
        channel.basic_publish(amqp.Message(b"b"), routing_key=queue)
        a, b = channel.basic_get(queue), channel.basic_get(queue)
        nack(channel, b.delivery_tag, requeue=True)
        b_again = get_all(channel, queue, 1)[0]
        assert (b_again.body, b_again.delivery_info["redelivered"]) == (b"b", True)
        channel.basic_ack(a.delivery_tag)
        channel.basic_ack(b_again.delivery_tag)
        channel.close()
        # Acked, nothing left unacked to come back when the channel closed.
        assert ready_count(conn.channel(), queue) == 0


def test_basic_recover_requeue_redelivers_unacked_messages_flagged_redelivered(node, queue):
    with connect(node, confirm_publish=True) as conn:
        channel = conn.channel()
        received = []
        channel.basic_consume(queue, callback=received.append)
        for i in range(2):
            channel.basic_publish(amqp.Message(f"m{i}".encode()), routing_key=queue)
        drain_until(conn, lambda: len(received) == 2)
        assert not any(m.delivery_info["redelivered"] for m in received)
        channel.basic_recover(requeue=True)
        drain_until(conn, lambda: len(received) == 4, what="the recovered deliveries")
        redelivered = received[2:]
        assert sorted(m.body for m in redelivered) == [b"m0", b"m1"]
        assert all(m.delivery_info["redelivered"] for m in redelivered)
        assert sorted(m.delivery_tag for m in redelivered) == [3, 4]
        for message in redelivered:
            channel.basic_ack(message.delivery_tag)
        assert_nothing_arrives(conn)
        assert ready_count(channel, queue) == 0


def test_qos_prefetch_count_limits_unacked_deliveries(node, queue):
    with connect(node, confirm_publish=True) as conn:
        channel = conn.channel()
        for i in range(5):
            channel.basic_publish(amqp.Message(f"m{i}".encode()), routing_key=queue)
        assert ready_count(channel, queue) == 5
        channel.basic_qos(prefetch_size=0, prefetch_count=2, a_global=False)
        received = []
        channel.basic_consume(queue, callback=received.append)
        drain_until(conn, lambda: len(received) == 2)
        assert_nothing_arrives(conn)
        assert len(received) == 2
        assert ready_count(channel, queue) == 3
        channel.basic_ack(received[0].delivery_tag)
        drain_until(conn, lambda: len(received) == 3)
        assert_nothing_arrives(conn)
        # Acking every outstanding tag at once frees two more slots.
        channel.basic_ack(received[2].delivery_tag, multiple=True)
        drain_until(conn, lambda: len(received) == 5)
        assert [m.body for m in received] == [f"m{i}".encode() for i in range(5)]


# --------------------------------------------------------------------------------------
# Exchanges and transactions


def test_exchange_to_exchange_binding_routes_until_unbound(node, names, queue):
    source, destination = names("src"), names("dst")
    with connect(node, confirm_publish=True) as conn:
        channel = conn.channel()
        channel.exchange_declare(source, "direct", auto_delete=False)
        channel.exchange_declare(destination, "fanout", auto_delete=False)
        try:
            channel.queue_bind(queue, destination)
            channel.exchange_bind(destination, source, routing_key="rk")
            channel.basic_publish(amqp.Message(b"bound"), exchange=source, routing_key="rk")
            channel.basic_publish(amqp.Message(b"other key"), exchange=source, routing_key="xx")
            assert ready_count(channel, queue) == 1
            assert channel.basic_get(queue, no_ack=True).body == b"bound"
            channel.exchange_unbind(destination, source, routing_key="rk")
            channel.basic_publish(amqp.Message(b"unbound"), exchange=source, routing_key="rk")
            channel.basic_publish(amqp.Message(b"direct"), exchange=destination)
            assert ready_count(channel, queue) == 1
            assert channel.basic_get(queue, no_ack=True).body == b"direct"
        finally:
            channel.exchange_delete(source)
            channel.exchange_delete(destination)


def test_deleted_exchange_is_not_found_on_passive_declare(node, names):
    exchange = names("x")
    with connect(node) as conn:
        channel = conn.channel()
        channel.exchange_declare(exchange, "topic", auto_delete=False)
        channel.exchange_declare(exchange, "topic", passive=True)
        channel.exchange_delete(exchange)
        with pytest.raises(NotFound) as error:
            channel.exchange_declare(exchange, "topic", passive=True)
        assert error.value.reply_code == 404
        assert error.value.reply_text == shortstr(
            f"NOT_FOUND - no exchange '{exchange}' in vhost '/'")
        assert error.value.method_sig == spec.Exchange.Declare
        assert_channel_usable(channel, names)


def test_tx_commit_publishes_and_rollback_discards(node, queue):
    with connect(node) as conn:
        channel = conn.channel()
        observer = conn.channel()
        channel.tx_select()
        channel.basic_publish(amqp.Message(b"committed"), routing_key=queue)
        assert ready_count(channel, queue) == 0
        channel.tx_commit()
        assert ready_count(observer, queue) == 1
        channel.basic_publish(amqp.Message(b"rolled back"), routing_key=queue)
        channel.tx_rollback()
        assert ready_count(observer, queue) == 1
        # An ack inside a transaction takes effect at commit only: rolled back, the message
        # stays unacked and comes back when the channel closes.
        message = channel.basic_get(queue)
        assert message.body == b"committed"
        channel.basic_ack(message.delivery_tag)
        channel.tx_rollback()
        channel.close()
        wait_ready_count(observer, queue, 1)
        channel = conn.channel()
        channel.tx_select()
        message = channel.basic_get(queue)
        assert (message.body, message.delivery_info["redelivered"]) == (b"committed", True)
        channel.basic_ack(message.delivery_tag)
        channel.tx_commit()
        channel.close()
        # Committed, the ack holds: nothing comes back to a consumer.
        late = []
        observer.basic_consume(queue, callback=late.append)
        assert_nothing_arrives(conn)
        assert late == []


# --------------------------------------------------------------------------------------
# Channel errors: the exception class, RabbitMQ's code and text; the channel reopens


def test_passive_declare_of_missing_queue_raises_not_found_404(node, names):
    missing = names("missing")
    with connect(node) as conn:
        channel = conn.channel()
        with pytest.raises(NotFound) as error:
            channel.queue_declare(missing, passive=True)
        assert error.value.reply_code == 404
        assert error.value.reply_text == shortstr(f"NOT_FOUND - no queue '{missing}' in vhost '/'")
        assert error.value.method_sig == spec.Queue.Declare
        assert_channel_usable(channel, names)


def test_publish_to_missing_exchange_closes_the_channel_with_not_found_404(node, names, queue):
    exchange = names("missing")
    text = shortstr(f"NOT_FOUND - no exchange '{exchange}' in vhost '/'")
    with connect(node) as conn:
        channel = conn.channel()
        channel.basic_publish(amqp.Message(b"held"), routing_key=queue)
        held = get_all(channel, queue, 1)[0]  # unacked on this channel
        channel.basic_publish(amqp.Message(b"x"), exchange=exchange, routing_key="rk")
        # Publishing is asynchronous: the channel.close reaches the next synchronous call.
        with pytest.raises(NotFound) as error:
            channel.queue_declare(names("next"), exclusive=True)
        assert (error.value.reply_code, error.value.reply_text) == (404, text)
        assert error.value.method_sig == spec.Basic.Publish
        # The channel really closed: its unacked message went back to the queue.
        again = get_all(channel, queue, 1)[0]
        assert (again.body, again.delivery_info["redelivered"]) == (held.body, True)
        assert_channel_usable(channel, names)
    with connect(node, confirm_publish=True) as conn:
        channel = conn.channel()
        with pytest.raises(NotFound) as error:
            channel.basic_publish(amqp.Message(b"x"), exchange=exchange, routing_key="rk")
        assert (error.value.reply_code, error.value.reply_text) == (404, text)
        assert error.value.method_sig == spec.Basic.Publish
        assert_channel_usable(channel, names)


def test_redeclare_with_different_arguments_raises_precondition_failed_406(node, queue, names):
    with connect(node) as conn:
        channel = conn.channel()
        with pytest.raises(PreconditionFailed) as error:
            channel.queue_declare(queue, auto_delete=False, arguments={"x-max-length": 20})
        assert error.value.reply_code == 406
        assert error.value.reply_text == shortstr(
            f"PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '{queue}' in "
            "vhost '/': received the value '20' of type 'signedint' but current is none")
        assert error.value.method_sig == spec.Queue.Declare
        with pytest.raises(PreconditionFailed) as error:
            channel.queue_declare(queue, durable=True, auto_delete=False)
        assert error.value.reply_text == shortstr(
            f"PRECONDITION_FAILED - inequivalent arg 'durable' for queue '{queue}' in vhost "
            "'/': received 'true' but current is 'false'")
        limited = names("limited")
        channel.queue_declare(limited, exclusive=True, arguments={"x-max-length": 10})
        with pytest.raises(PreconditionFailed) as error:
            channel.queue_declare(limited, exclusive=True, arguments={"x-max-length": 20})
        assert error.value.reply_text == shortstr(
            f"PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '{limited}' in "
            "vhost '/': received '20' but current is '10'")
        assert_channel_usable(channel, names)


def test_exclusive_queue_of_another_connection_raises_resource_locked_405(node, names):
    locked = names("q")
    text = shortstr(
        f"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{locked}' in "
        "vhost '/'. It could be originally declared on another connection or the exclusive "
        "property value does not match that of the original declaration.")
    with connect(node) as owner, connect(node) as other:
        owner.channel().queue_declare(locked, exclusive=True)
        channel = other.channel()
        with pytest.raises(ResourceLocked) as error:
            channel.queue_declare(locked, exclusive=True)
        assert (error.value.reply_code, error.value.reply_text) == (405, text)
        assert error.value.method_sig == spec.Queue.Declare
        with pytest.raises(ResourceLocked) as error:
            channel.basic_consume(locked, callback=lambda message: None)
        assert (error.value.reply_code, error.value.reply_text) == (405, text)
        assert error.value.method_sig == spec.Basic.Consume
        assert_channel_usable(channel, names)


def test_consumer_on_exclusively_consumed_queue_raises_access_refused_403(node, queue, names):
    with connect(node) as owner, connect(node) as other:
        owner.channel().basic_consume(queue, exclusive=True, callback=lambda message: None)
        channel = other.channel()
        with pytest.raises(AccessRefused) as error:
            channel.basic_consume(queue, callback=lambda message: None)
        assert error.value.reply_code == 403
        assert error.value.reply_text == shortstr(
            f"ACCESS_REFUSED - queue '{queue}' in vhost '/' in exclusive use")
        assert error.value.method_sig == spec.Basic.Consume
        assert_channel_usable(channel, names)


# --------------------------------------------------------------------------------------
# The connection


def test_wrong_password_raises_access_refused_403(node):
    conn = amqp.Connection(host=f"{node.host}:{node.port}", userid="guest",
                           password="not-the-password", connect_timeout=10)
    with pytest.raises(AccessRefused) as error:
        conn.connect()
    # authentication_failure_close: a connection.close, not a dropped socket.
    assert error.value.reply_code == 403
    assert error.value.reply_text == (
        "ACCESS_REFUSED - Login was refused using authentication mechanism AMQPLAIN. "
        "For details see the broker logfile.")
    assert conn.mechanisms == [b"PLAIN", b"AMQPLAIN"]
    with connect(node) as ok:
        assert ok.channel().queue_declare("", exclusive=True).queue.startswith("amq.gen-")


def test_server_properties_announce_rabbitmq_capabilities(node):
    with connect(node) as conn:
        props = conn.server_properties
        assert (conn.version_major, conn.version_minor) == (0, 9)
        assert conn.locales == ["en_US"]
        assert isinstance(props.get("product"), str) and props["product"], props
        assert isinstance(props.get("version"), str) and props["version"], props
        capabilities = conn.server_capabilities
        assert {name: capabilities.get(name) for name in RABBITMQ_CAPABILITIES} == {
            name: True for name in RABBITMQ_CAPABILITIES}, props
        # py-amqp asks for what the server offers of these three.
        assert conn.client_properties["capabilities"] == {
            "consumer_cancel_notify": True, "connection.blocked": True,
            "authentication_failure_close": True}


def test_tune_offers_rabbitmq_default_limits(node):
    with connect(node, frame_max=4096) as conn:
        # py-amqp takes the server's frame_max and channel_max as they are offered.
        assert (conn.channel_max, conn.frame_max, conn.server_heartbeat) == (2047, 131072, 60)
        assert conn.heartbeat == 0


@pytest.mark.seconds(30)
def test_heartbeats_keep_an_idle_connection_open(node, names):
    with connect(node, heartbeat=2) as conn:
        assert (conn.server_heartbeat, conn.heartbeat) == (60, 2)
        channel = conn.channel()
        frames_before = conn.bytes_recv
        # Idle for three heartbeat intervals, ticking as kombu's drain loop does.
        end = time.monotonic() + 6
        while time.monotonic() < end:
            conn.heartbeat_tick()
            try:
                conn.drain_events(timeout=0.25)
            except socket.timeout:
                pass
        # Only heartbeat frames can have arrived; RabbitMQ sends one every interval / 2.
        assert conn.bytes_recv - frames_before >= 3
        conn.send_heartbeat()
        assert channel.queue_declare(names("q"), exclusive=True).message_count == 0


@pytest.mark.seconds(60)
def test_twenty_megabyte_body_round_trips_intact(node, queue):
    body = (bytes(range(251)) * (20 * 1024 * 1024 // 251 + 1))[:20 * 1024 * 1024]
    with connect(node, confirm_publish=True) as conn:
        assert conn.frame_max == 131072
        channel = conn.channel()
        channel.basic_publish(amqp.Message(body, message_id="big"), routing_key=queue)
        message = channel.basic_get(queue, no_ack=True)
        assert message is not None
        assert len(message.body) == len(body)
        assert message.body == body
        assert message.properties == {"message_id": "big"}


# --------------------------------------------------------------------------------------
# Consumer cancel notification (consumer_cancel_notify)


def test_deleting_a_consumed_queue_calls_on_cancel_with_the_consumer_tag(node, queue, names):
    with connect(node) as conn:
        channel = conn.channel()
        cancelled = []
        tag = channel.basic_consume(queue, callback=lambda message: None,
                                    on_cancel=cancelled.append)
        conn.channel().queue_delete(queue)
        drain_until(conn, lambda: cancelled, what="the server's basic.cancel")
        assert cancelled == [tag]
        assert tag not in channel.callbacks
        assert_channel_usable(channel, names)


def test_deleting_a_consumed_queue_without_on_cancel_raises_consumer_cancelled(node, queue, names):
    with connect(node) as conn:
        channel = conn.channel()
        tag = channel.basic_consume(queue, callback=lambda message: None)
        deleter = conn.channel()
        deadline = time.monotonic() + 5
        with pytest.raises(ConsumerCancelled) as error:
            deleter.queue_delete(queue)  # the basic.cancel may come before the delete-ok
            while time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.5)
                except socket.timeout:
                    pass
        assert error.value.reply_text == tag
        assert error.value.method_sig == spec.Basic.Cancel
        assert_channel_usable(channel, names)
