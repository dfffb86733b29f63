#!/usr/bin/env python3
"""AMQP 0-9-1 compatibility checks for Berth, run with pika against a live node.

Every check is a function named after the behaviour it checks; each opens its own
connections and declares its own uniquely named exchanges and queues, and expects what
RabbitMQ does. Output: one line per check (`ok NAME` or `FAIL NAME: REASON`), then
`N passed, M failed`; the exit status is non-zero if any check failed.

    pika_compat.py --port 5672                       # every check
    pika_compat.py --port 5672 --only basic_get_reports_message_count_and_get_empty
    pika_compat.py --port 5672 --phase write  --tag term --count 200
    pika_compat.py --port 5672 --phase verify --tag term --count 200   # after a restart

Every wait is bounded: polls run `process_data_events(time_limit=...)` against a
deadline, and each check runs under a SIGALRM watchdog so that a node which never answers
fails the check instead of hanging the suite.
"""

import argparse
import decimal
import logging
import select
import signal
import sys
import time
import traceback
import uuid

try:
    import pika
    import pika.exceptions as pex
except ImportError:  # pragma: no cover - run.sh installs pika first
    sys.stderr.write("pika is not installed: pip install pika\n")
    sys.exit(2)

HOST = "127.0.0.1"
PORT = 5672
RUN_ID = uuid.uuid4().hex[:8]
CHECK_SECONDS = 15.0  # watchdog for one check
POLL = 0.02  # one process_data_events slice


# --------------------------------------------------------------------------------------
# Harness


class CheckFailed(Exception):
    """A check's expectation did not hold."""


class CheckTimeout(BaseException):
    """Raised by the watchdog; a BaseException so that no `except Exception` in pika or
    in a check swallows it."""


def fail(reason):
    raise CheckFailed(reason)


def expect(condition, reason):
    if not condition:
        raise CheckFailed(reason)


def _on_alarm(signum, frame):
    raise CheckTimeout()


class watchdog:
    """Raises CheckTimeout in the main thread after `seconds` (SIGALRM)."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        self.previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)
        return False


def parameters(**overrides):
    settings = dict(
        host=HOST,
        port=PORT,
        credentials=pika.PlainCredentials("guest", "guest"),
        connection_attempts=1,
        socket_timeout=5,
        stack_timeout=8,
        blocked_connection_timeout=10,
        heartbeat=30,
    )
    settings.update(overrides)
    return pika.ConnectionParameters(**settings)


class Session:
    """One check's connections and names; closes and deletes everything at the end."""

    def __init__(self, check):
        self.check = check
        self.connections = []
        self.queues = []
        self.exchanges = []

    def connect(self):
        connection = pika.BlockingConnection(parameters())
        self.connections.append(connection)
        return connection

    def channel(self):
        """A channel on a new connection: (connection, channel)."""
        connection = self.connect()
        return connection, connection.channel()

    def name(self, role):
        return f"compat.{self.check}.{role}.{RUN_ID}"

    def queue(self, channel, role="q", **kwargs):
        name = self.name(role)
        channel.queue_declare(name, **kwargs)
        self.queues.append(name)
        return name

    def exchange(self, channel, kind, role="x", **kwargs):
        name = self.name(role)
        channel.exchange_declare(name, exchange_type=kind, **kwargs)
        self.exchanges.append(name)
        return name

    def cleanup(self):
        """Best effort, bounded: delete what was declared, close every connection."""
        try:
            with watchdog(4):
                if self.queues or self.exchanges:
                    connection = pika.BlockingConnection(parameters())
                    self.connections.append(connection)
                    for name in self.queues:
                        try:
                            channel = connection.channel()
                            channel.queue_delete(name)
                            channel.close()
                        except pex.ChannelClosedByBroker:
                            pass
                    for name in self.exchanges:
                        try:
                            channel = connection.channel()
                            channel.exchange_delete(name)
                            channel.close()
                        except pex.ChannelClosedByBroker:
                            pass
        except (CheckTimeout, Exception):
            pass
        for connection in self.connections:
            try:
                with watchdog(2):
                    if connection.is_open:
                        connection.close()
            except (CheckTimeout, Exception):
                pass


CHECKS = []


def check(function):
    CHECKS.append(function)
    return function


def run_check(function, session_args=(), seconds=CHECK_SECONDS, name=None):
    name = name or function.__name__
    session = Session(name)
    started = time.monotonic()
    try:
        with watchdog(seconds):
            function(session, *session_args)
        outcome = None
    except CheckFailed as error:
        outcome = str(error)
    except CheckTimeout:
        outcome = f"timed out after {seconds:.0f}s (the node did not answer)"
    except pex.AMQPError as error:
        outcome = f"unexpected {type(error).__name__}: {error!r}"
    except Exception as error:  # a bug in the check or an unexpected client error
        tail = traceback.format_exc().strip().splitlines()[-3:]
        outcome = f"unexpected {type(error).__name__}: {error} [{' | '.join(s.strip() for s in tail)}]"
    finally:
        session.cleanup()
    elapsed = time.monotonic() - started
    if outcome is None:
        print(f"ok {name}", flush=True)
        return True
    print(f"FAIL {name}: {outcome}", flush=True)
    logging.getLogger("compat").debug("%s took %.2fs", name, elapsed)
    return False


# --------------------------------------------------------------------------------------
# Helpers


class Received:
    def __init__(self, method, properties, body):
        self.method = method
        self.properties = properties
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return repr(self.text)


END = b"END"


def text(value):
    """Field-table strings arrive as str or bytes depending on the encoding."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def publish(channel, exchange, key, body, properties=None, mandatory=False):
    if isinstance(body, str):
        body = body.encode()
    channel.basic_publish(exchange, key, body, properties=properties, mandatory=mandatory)


def wait_until(connection, condition, seconds, what):
    """Processes I/O in short slices until condition() holds; fails at the deadline."""
    deadline = time.monotonic() + seconds
    while not condition():
        left = deadline - time.monotonic()
        if left <= 0:
            fail(f"timed out after {seconds}s waiting for {what}")
        connection.process_data_events(time_limit=min(left, POLL))


def consume(connection, channel, queue, stop, seconds=5.0, what=None):
    """Consumes (auto-ack) until stop(messages) holds; returns every message received,
    including any that arrived before the cancel was confirmed."""
    got = []

    def on_message(_channel, method, properties, body):
        got.append(Received(method, properties, body))

    tag = channel.basic_consume(queue, on_message, auto_ack=True)
    try:
        wait_until(connection, lambda: stop(got), seconds,
                   what or f"messages on {queue} (received so far: {got})")
    finally:
        if channel.is_open:
            for method, properties, body in channel.basic_cancel(tag):
                got.append(Received(method, properties, body))
    return got


def consume_until_end(connection, channel, queue, seconds=5.0):
    """Everything routed to `queue` before its END sentinel, in order. The caller has
    published END through the default exchange after the messages under test, so any
    message that was (wrongly) routed to the queue shows up in the list."""
    got = consume(connection, channel, queue, lambda got: any(m.body == END for m in got),
                  seconds, what=f"the END sentinel on {queue}")
    bodies = [m.text for m in got]
    end = bodies.index("END")
    if end != len(bodies) - 1:
        fail(f"{queue}: messages after END: {bodies}")
    return bodies[:end]


def routed(connection, channel, queues):
    """Publishes END to each queue by the default exchange (after the messages under
    test were confirmed) and returns {queue: bodies routed before END}."""
    for queue in queues:
        publish(channel, "", queue, END)
    return {queue: consume_until_end(connection, channel, queue) for queue in queues}


def expect_routing(connection, channel, expected):
    got = routed(connection, channel, list(expected))
    for queue, bodies in expected.items():
        expect(got[queue] == bodies,
               f"queue {queue.split('.')[2]} received {got[queue]}, expected {bodies}")


def message_count(channel, queue):
    return channel.queue_declare(queue, passive=True).method.message_count


def expect_channel_closed(action, code, what):
    """Runs action(); it must close the channel with `code`. Returns the exception."""
    try:
        action()
    except pex.ChannelClosedByBroker as error:
        expect(error.reply_code == code,
               f"{what}: channel closed with {error.reply_code} {error.reply_text!r}, expected {code}")
        return error
    except pex.ConnectionClosedByBroker as error:
        fail(f"{what}: the connection was closed ({error.reply_code} {error.reply_text!r}), "
             f"expected a channel close {code}")
    fail(f"{what}: succeeded, expected channel close {code}")


def dead_letter_queue(session, channel, role="dlq", key="dead"):
    """A direct dead-letter exchange and a queue bound to it with `key`."""
    dlx = session.exchange(channel, "direct", role=role + "-x")
    dlq = session.queue(channel, role=role)
    channel.queue_bind(dlq, dlx, routing_key=key)
    return dlx, dlq


def expect_x_death(message, reason, queue, count=1):
    headers = message.properties.headers or {}
    deaths = headers.get("x-death")
    expect(isinstance(deaths, list) and deaths,
           f"dead-lettered message has no x-death list; headers: {headers}")
    first = deaths[0]
    expect(isinstance(first, dict), f"x-death[0] is not a table: {first!r}")
    expect(text(first.get("reason")) == reason,
           f"x-death[0].reason is {first.get('reason')!r}, expected {reason!r}; x-death[0]: {first}")
    expect(first.get("count") == count,
           f"x-death[0].count is {first.get('count')!r}, expected {count}; x-death[0]: {first}")
    expect(text(first.get("queue")) == queue,
           f"x-death[0].queue is {first.get('queue')!r}, expected {queue!r}; x-death[0]: {first}")


# --------------------------------------------------------------------------------------
# Exchanges and routing


@check
def direct_exchange_routes_by_exact_key(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    x = s.exchange(ch, "direct")
    q1, q2 = s.queue(ch, role="q1"), s.queue(ch, role="q2")
    ch.queue_bind(q1, x, routing_key="a")
    ch.queue_bind(q1, x, routing_key="c")
    ch.queue_bind(q2, x, routing_key="b")
    for key in ["a", "b", "c", "z", "A", "a.b"]:
        publish(ch, x, key, f"key={key}")
    expect_routing(c, ch, {q1: ["key=a", "key=c"], q2: ["key=b"]})
    ch.queue_unbind(q1, x, routing_key="c")
    try:
        publish(ch, x, "c", "after-unbind", mandatory=True)
        fail("publish with key 'c' after queue.unbind was routed, expected it returned")
    except pex.UnroutableError:
        pass
    expect_routing(c, ch, {q1: [], q2: []})


@check
def fanout_exchange_routes_to_all_bound_queues(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    x = s.exchange(ch, "fanout")
    bound = [s.queue(ch, role=f"q{i}") for i in range(3)]
    unbound = s.queue(ch, role="unbound")
    ch.queue_bind(bound[0], x)
    ch.queue_bind(bound[1], x, routing_key="ignored")
    ch.queue_bind(bound[2], x, routing_key="other")
    publish(ch, x, "", "m1")
    publish(ch, x, "any.key", "m2")
    expected = {q: ["m1", "m2"] for q in bound}
    expected[unbound] = []
    expect_routing(c, ch, expected)


@check
def topic_exchange_star_matches_exactly_one_word(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    x = s.exchange(ch, "topic")
    q = s.queue(ch)
    ch.queue_bind(q, x, routing_key="stock.*.nyse")
    keys = ["stock.ibm.nyse", "stock.nyse", "stock.ibm.x.nyse", "bond.ibm.nyse",
            "stock.ibm.nysex", "stock.msft.nyse"]
    for key in keys:
        publish(ch, x, key, key)
    expect_routing(c, ch, {q: ["stock.ibm.nyse", "stock.msft.nyse"]})


@check
def topic_exchange_hash_matches_zero_or_more_words(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    x = s.exchange(ch, "topic")
    q = s.queue(ch)
    everything = s.queue(ch, role="all")
    ch.queue_bind(q, x, routing_key="audit.#")
    ch.queue_bind(q, x, routing_key="#.critical")
    ch.queue_bind(everything, x, routing_key="#")
    keys = ["audit", "audit.a.b.c", "x.critical", "critical", "auditx.y",
            "x.critical.y", "audit.critical", "other"]
    for key in keys:
        publish(ch, x, key, key)
    # 'audit.critical' matches both bindings of q and must arrive there once.
    expect_routing(c, ch, {
        q: ["audit", "audit.a.b.c", "x.critical", "critical", "audit.critical"],
        everything: keys,
    })


def _headers_routing(s, match, cases, expected):
    c, ch = s.channel()
    ch.confirm_delivery()
    x = s.exchange(ch, "headers")
    q = s.queue(ch)
    ch.queue_bind(q, x, routing_key="", arguments={"x-match": match, "format": "pdf", "type": "report"})
    for label, headers in cases:
        publish(ch, x, "ignored", label, pika.BasicProperties(headers=headers))
    expect_routing(c, ch, {q: expected})


@check
def headers_exchange_x_match_all_requires_every_header(s):
    _headers_routing(s, "all", [
        ("both", {"format": "pdf", "type": "report"}),
        ("both-and-extra", {"format": "pdf", "type": "report", "extra": 1}),
        ("format-only", {"format": "pdf"}),
        ("wrong-format", {"format": "zip", "type": "report"}),
        ("no-headers", None),
    ], ["both", "both-and-extra"])


@check
def headers_exchange_x_match_any_requires_one_header(s):
    _headers_routing(s, "any", [
        ("format-only", {"format": "pdf"}),
        ("type-only", {"type": "report", "format": "zip"}),
        ("neither", {"format": "zip", "type": "invoice"}),
        ("no-headers", None),
        ("both", {"format": "pdf", "type": "report"}),
    ], ["format-only", "type-only", "both"])


@check
def exchange_to_exchange_binding_routes_through_both(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    source = s.exchange(ch, "topic", role="source")
    destination = s.exchange(ch, "direct", role="destination")
    q = s.queue(ch)
    direct_q = s.queue(ch, role="direct-q")
    ch.exchange_bind(destination, source, routing_key="k.#")
    ch.queue_bind(q, destination, routing_key="k.a")
    ch.queue_bind(q, destination, routing_key="k.b.c")
    ch.queue_bind(direct_q, source, routing_key="k.a")
    for key in ["k.a", "k.z", "j.a", "k.b.c"]:
        publish(ch, source, key, key)
    expect_routing(c, ch, {q: ["k.a", "k.b.c"], direct_q: ["k.a"]})
    ch.exchange_unbind(destination, source, routing_key="k.#")
    try:
        publish(ch, source, "k.b.c", "after-unbind", mandatory=True)
        fail("publish after exchange.unbind was routed, expected it returned")
    except pex.UnroutableError:
        pass
    expect_routing(c, ch, {q: [], direct_q: []})


# --------------------------------------------------------------------------------------
# Publishing: confirms and returns


@check
def publisher_confirms_ack_each_blocking_publish(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    n = 200
    for i in range(n):
        publish(ch, "", q, f"m{i}")  # raises NackError/UnroutableError unless acked
    expect(message_count(ch, q) == n, f"queue holds {message_count(ch, q)} messages, expected {n}")


@check
def publisher_confirms_ack_every_pipelined_publish(s):
    """2,000 publishes without waiting; every delivery tag must be acked exactly once
    (multiple acks allowed), none nacked, and all messages queued in order."""
    c, ch = s.channel()
    q = s.queue(ch)
    n = 2000
    outstanding = set(range(1, n + 1))
    acked, nacked, twice = [], [], []
    state = {"error": None, "timed_out": False}

    def on_confirm(frame):
        method = frame.method
        tags = ([t for t in outstanding if t <= method.delivery_tag] if method.multiple
                else [method.delivery_tag])
        for tag in tags:
            if tag not in outstanding:
                twice.append(tag)
                continue
            outstanding.discard(tag)
            (acked if isinstance(method, pika.spec.Basic.Ack) else nacked).append(tag)
        if not outstanding:
            connection.close()

    def on_select_ok(_frame):
        for i in range(n):
            channel.basic_publish("", q, f"p{i}".encode())

    def on_channel(new_channel):
        nonlocal channel
        channel = new_channel
        channel.confirm_delivery(ack_nack_callback=on_confirm, callback=on_select_ok)

    def on_open(conn):
        conn.channel(on_open_callback=on_channel)

    def on_open_error(_conn, error):
        state["error"] = f"could not connect: {error!r}"
        connection.ioloop.stop()

    def on_closed(_conn, reason):
        if outstanding and state["error"] is None and not state["timed_out"]:
            state["error"] = f"connection closed early: {reason!r}"
        connection.ioloop.stop()

    def on_deadline():
        state["timed_out"] = True
        if connection.is_open:
            connection.close()
        else:
            connection.ioloop.stop()

    channel = None
    connection = pika.SelectConnection(parameters(), on_open_callback=on_open,
                                       on_open_error_callback=on_open_error,
                                       on_close_callback=on_closed)
    connection.ioloop.call_later(8, on_deadline)
    connection.ioloop.start()
    expect(state["error"] is None, state["error"] or "")
    expect(not twice, f"delivery tags confirmed twice: {sorted(twice)[:10]}")
    expect(not nacked, f"{len(nacked)} publishes nacked, e.g. {sorted(nacked)[:10]}")
    expect(not outstanding, f"{len(outstanding)} of {n} publishes never confirmed within 8s "
                            f"(first unconfirmed tag {min(outstanding) if outstanding else None})")
    got = consume(c, ch, q, lambda got: len(got) >= n, seconds=8)
    bodies = [m.text for m in got]
    expect(bodies == [f"p{i}" for i in range(n)],
           f"queue delivered {len(bodies)} messages, not p0..p{n - 1} in order")


@check
def mandatory_unroutable_publish_is_returned(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    x = s.exchange(ch, "direct")
    try:
        publish(ch, x, "nowhere", "lost", mandatory=True)
        fail("mandatory publish to an exchange without bindings was not returned")
    except pex.UnroutableError as error:
        expect(len(error.messages) == 1, f"{len(error.messages)} messages returned, expected 1")
        returned = error.messages[0]
        expect(returned.method.reply_code == 312,
               f"basic.return reply code {returned.method.reply_code}, expected 312 NO_ROUTE")
        expect(returned.method.exchange == x and returned.method.routing_key == "nowhere",
               f"basic.return names {returned.method.exchange!r}/{returned.method.routing_key!r}")
        expect(returned.body == b"lost", f"returned body {returned.body!r}")
    # Without mandatory the unroutable message is simply acked (and dropped).
    publish(ch, x, "nowhere", "dropped")
    # The channel is still usable afterwards.
    q = s.queue(ch)
    publish(ch, "", q, "after")
    expect(message_count(ch, q) == 1, "the channel stopped working after a return")


# --------------------------------------------------------------------------------------
# Consuming: ack, nack, reject, get, qos


def _manual_consumer(channel, queue, prefetch=None):
    deliveries = []
    if prefetch is not None:
        channel.basic_qos(prefetch_count=prefetch)

    def on_message(_channel, method, properties, body):
        deliveries.append(Received(method, properties, body))

    tag = channel.basic_consume(queue, on_message, auto_ack=False)
    return tag, deliveries


@check
def basic_ack_removes_only_acked_messages(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    publish(ch, "", q, "m1")
    publish(ch, "", q, "m2")
    consumer = c.channel()
    _, deliveries = _manual_consumer(consumer, q)
    wait_until(c, lambda: len(deliveries) >= 2, 5, "two deliveries")
    expect([d.text for d in deliveries] == ["m1", "m2"], f"delivered {deliveries}")
    expect(not deliveries[0].method.redelivered, "first delivery flagged redelivered")
    consumer.basic_ack(deliveries[0].method.delivery_tag)
    consumer.close()  # m2 is unacked: closing the channel requeues it
    expect(message_count(ch, q) == 1, f"queue holds {message_count(ch, q)} after ack m1 + close, expected 1")
    method, _, body = ch.basic_get(q, auto_ack=True)
    expect(method is not None and body == b"m2", f"basic.get gave {body!r}, expected m2")
    expect(method.redelivered, "m2 requeued by channel close is not flagged redelivered")


@check
def a_channels_methods_see_what_it_just_published(s):
    # No confirms, nothing awaited: a channel's commands take effect in the order sent.
    c, ch = s.channel()
    q = s.queue(ch)
    for i in range(100):
        publish(ch, "", q, f"m{i}")
        method, _, body = ch.basic_get(q, auto_ack=True)
        expect(method is not None, f"basic.get right after publish {i} answered get-empty")
        expect(body == f"m{i}".encode(), f"basic.get after publish {i} gave {body!r}")
    for i in range(30):
        publish(ch, "", q, f"p{i}")
    declared = ch.queue_declare(q, passive=True).method.message_count
    expect(declared == 30, f"declare-ok right after 30 publishes counts {declared}")
    purged = ch.queue_purge(q).method.message_count
    expect(purged == 30, f"purge-ok right after 30 publishes counts {purged}")


@check
def a_20_mb_message_is_confirmed_and_got_back_whole(s):
    # Over RabbitMQ 4's 16 MiB limit, within RabbitMQ 3's 128 MiB, which the node keeps.
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    body = bytes(range(256)) * (20 * 1024 * 1024 // 256)
    publish(ch, "", q, body)
    method, _, got = ch.basic_get(q, auto_ack=True)
    expect(method is not None, "basic.get of the 20 MB message answered get-empty")
    expect(got == body, f"got {len(got)} bytes back, not the {len(body)} published")


@check
def tidying_up_after_an_auto_delete_queue_went_succeeds(s):
    # aio-pika's RPC pattern closes this way: the reply queue (auto-delete) goes with its
    # consumer, taking its shared auto-delete exchange's last binding and so the exchange;
    # the unbind and the delete that follow still succeed, as on RabbitMQ.
    c, ch = s.channel()
    x = s.exchange(ch, "headers", auto_delete=True)
    q = ch.queue_declare("", auto_delete=True).method.queue
    arguments = {"From": q, "x-match": "any"}
    ch.queue_bind(q, x, "", arguments=arguments)
    tag = ch.basic_consume(q, lambda *_: None, auto_ack=True)
    ch.basic_cancel(tag)
    expect_channel_closed(lambda: c.channel().exchange_declare(x, passive=True), 404,
                          "the auto-delete exchange after its last binding went")
    ch.queue_unbind(q, x, "", arguments=arguments)
    deleted = ch.queue_delete(q).method.message_count
    expect(deleted == 0, f"delete-ok of a queue already gone counts {deleted}")


@check
def publish_with_immediate_closes_the_connection_with_540(s):
    # As RabbitMQ since 3.0; pika 1.x offers no immediate flag, so the method is built here.
    c, ch = s.channel()
    q = s.queue(ch)
    try:
        ch._impl._send_method(pika.spec.Basic.Publish(exchange="", routing_key=q, immediate=True), (pika.BasicProperties(), b"now"))
        wait_until(c, lambda: False, 5, "the connection to close")
    except pex.ConnectionClosedByBroker as error:
        expect(error.reply_code == 540, f"closed with {error.reply_code} {error.reply_text}")
        expect("immediate=true" in error.reply_text, f"reply text {error.reply_text!r}")
        return
    fail("publish with immediate=true was accepted")


@check
def basic_nack_with_requeue_redelivers_flagged_redelivered(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    publish(ch, "", q, "m")
    _, deliveries = _manual_consumer(ch, q)
    wait_until(c, lambda: len(deliveries) >= 1, 5, "the first delivery")
    expect(not deliveries[0].method.redelivered, "first delivery flagged redelivered")
    ch.basic_nack(deliveries[0].method.delivery_tag, requeue=True)
    wait_until(c, lambda: len(deliveries) >= 2, 5, "the redelivery after basic.nack requeue=true")
    again = deliveries[1]
    expect(again.body == b"m", f"redelivered {again.body!r}")
    expect(again.method.redelivered, "redelivery after nack(requeue) has redelivered=False")
    ch.basic_ack(again.method.delivery_tag)
    other = c.channel()
    wait_until(c, lambda: message_count(other, q) == 0, 3, "the queue to be empty after ack")


@check
def basic_recover_redelivers_every_unacked_delivery(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    for body in ("a", "b"):
        publish(ch, "", q, body)
    _, deliveries = _manual_consumer(ch, q)
    wait_until(c, lambda: len(deliveries) >= 2, 5, "the first two deliveries")
    ch.basic_recover(requeue=True)
    wait_until(c, lambda: len(deliveries) >= 4, 5, "the redeliveries after basic.recover")
    again = deliveries[2:4]
    expect(sorted(d.body for d in again) == [b"a", b"b"], f"redelivered {[d.body for d in again]!r}")
    expect(all(d.method.redelivered for d in again), "a recovered delivery is not flagged redelivered")
    for d in again:
        ch.basic_ack(d.method.delivery_tag)


@check
def ill_typed_queue_argument_fails_406_naming_it(s):
    c, ch = s.channel()
    name = s.name("badarg")
    error = expect_channel_closed(lambda: ch.queue_declare(name, arguments={"x-max-length": "ten"}), 406,
                                  "declare with a string x-max-length")
    expect("x-max-length" in error.reply_text, f"reply text {error.reply_text!r} does not name the argument")


@check
def basic_nack_without_requeue_discards(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    for body in ["m1", "m2", "m3"]:
        publish(ch, "", q, body)
    consumer = c.channel()
    _, deliveries = _manual_consumer(consumer, q)
    wait_until(c, lambda: len(deliveries) >= 3, 5, "three deliveries")
    consumer.basic_nack(deliveries[1].method.delivery_tag, multiple=True, requeue=False)  # m1, m2
    consumer.basic_ack(deliveries[2].method.delivery_tag)
    consumer.close()  # anything still unacked would be requeued now
    expect(message_count(ch, q) == 0, f"queue holds {message_count(ch, q)} after nack(requeue=false)")
    method, _, body = ch.basic_get(q, auto_ack=True)
    expect(method is None, f"basic.get returned {body!r} after nack(requeue=false)")


@check
def basic_reject_requeues_or_discards(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    publish(ch, "", q, "m")
    consumer = c.channel()
    _, deliveries = _manual_consumer(consumer, q)
    wait_until(c, lambda: len(deliveries) >= 1, 5, "the first delivery")
    consumer.basic_reject(deliveries[0].method.delivery_tag, requeue=True)
    wait_until(c, lambda: len(deliveries) >= 2, 5, "the redelivery after basic.reject requeue=true")
    expect(deliveries[1].body == b"m" and deliveries[1].method.redelivered,
           f"after reject(requeue): body {deliveries[1].body!r} redelivered={deliveries[1].method.redelivered}")
    consumer.basic_reject(deliveries[1].method.delivery_tag, requeue=False)
    consumer.close()
    expect(message_count(ch, q) == 0, f"queue holds {message_count(ch, q)} after reject(requeue=false)")


@check
def basic_get_reports_message_count_and_get_empty(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    for body in ["g1", "g2", "g3"]:
        publish(ch, "", q, body)
    for body, remaining in [("g1", 2), ("g2", 1), ("g3", 0)]:
        method, _, got = ch.basic_get(q, auto_ack=False)
        expect(method is not None, f"basic.get-empty, expected {body}")
        expect(got == body.encode(), f"basic.get returned {got!r}, expected {body}")
        expect(method.message_count == remaining,
               f"basic.get-ok for {body} has message_count {method.message_count}, expected {remaining}")
        ch.basic_ack(method.delivery_tag)
    method, _, got = ch.basic_get(q, auto_ack=True)
    expect(method is None and got is None, f"basic.get on an empty queue returned {got!r}")


@check
def basic_qos_prefetch_bounds_unacked_deliveries(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    n = 6
    for i in range(n):
        publish(ch, "", q, f"m{i}")
    consumer = c.channel()
    _, deliveries = _manual_consumer(consumer, q, prefetch=2)
    wait_until(c, lambda: len(deliveries) >= 2, 5, "the first two deliveries")
    # A round trip, then a short look: nothing beyond the prefetch window may arrive.
    ready = message_count(ch, q)
    c.process_data_events(time_limit=0.3)
    expect(len(deliveries) == 2, f"{len(deliveries)} unacked deliveries outstanding with prefetch 2")
    expect(ready == n - 2, f"queue.declare-ok message_count {ready} with 2 unacked, expected {n - 2} ready")
    acked = 0
    while acked < n:
        outstanding = len(deliveries) - acked
        expect(outstanding <= 2, f"{outstanding} unacked deliveries outstanding with prefetch 2")
        consumer.basic_ack(deliveries[acked].method.delivery_tag)
        acked += 1
        if acked < n:
            wanted = min(n, acked + 2)
            wait_until(c, lambda: len(deliveries) >= wanted, 5, f"delivery {wanted} after an ack")
            c.process_data_events(time_limit=0.02)
    expect([d.text for d in deliveries] == [f"m{i}" for i in range(n)], f"delivered {deliveries}")


# --------------------------------------------------------------------------------------
# Dead-lettering, TTL, length limits


@check
def reject_dead_letters_with_x_death(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    dlx, dlq = dead_letter_queue(s, ch, key="dead-key")
    q = s.queue(ch, arguments={"x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": "dead-key"})
    publish(ch, "", q, "doomed", pika.BasicProperties(headers={"app": "compat"}))
    method, _, body = ch.basic_get(q, auto_ack=False)
    expect(method is not None and body == b"doomed", f"basic.get gave {body!r}")
    ch.basic_reject(method.delivery_tag, requeue=False)
    got = consume(c, ch, dlq, lambda got: len(got) >= 1, what="the rejected message in the DLQ")
    message = got[0]
    expect(message.body == b"doomed", f"DLQ received {message.body!r}")
    expect_x_death(message, "rejected", q)
    headers = message.properties.headers or {}
    expect(text(headers.get("app")) == "compat", f"original headers lost: {headers}")
    first = headers["x-death"][0]
    expect(text(first.get("exchange")) == "", f"x-death[0].exchange is {first.get('exchange')!r}, expected ''")
    keys = [text(k) for k in first.get("routing-keys") or []]
    expect(keys == [q], f"x-death[0].routing-keys is {keys}, expected [{q!r}]")
    expect(message_count(ch, q) == 0, "the rejected message is still in its queue")


@check
def queue_message_ttl_dead_letters_expired_messages(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    dlx, dlq = dead_letter_queue(s, ch)
    q = s.queue(ch, arguments={"x-message-ttl": 150, "x-dead-letter-exchange": dlx,
                               "x-dead-letter-routing-key": "dead"})
    publish(ch, "", q, "short-lived")
    got = consume(c, ch, dlq, lambda got: len(got) >= 1, seconds=5,
                  what="the expired message in the DLQ (x-message-ttl 150 ms)")
    expect(got[0].body == b"short-lived", f"DLQ received {got[0].body!r}")
    expect_x_death(got[0], "expired", q)
    expect(message_count(ch, q) == 0, "the expired message is still in its queue")


@check
def per_message_expiration_removes_message(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    publish(ch, "", q, "expiring", pika.BasicProperties(expiration="100"))
    publish(ch, "", q, "keeper")
    wait_until(c, lambda: message_count(ch, q) == 1, 5,
               "the message with expiration=100 to leave the queue")
    method, _, body = ch.basic_get(q, auto_ack=True)
    expect(body == b"keeper", f"basic.get returned {body!r}, expected 'keeper'")
    method, _, body = ch.basic_get(q, auto_ack=True)
    expect(method is None, f"basic.get returned {body!r}, expected get-empty")


@check
def per_message_expiration_dead_letters_expired_message(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    dlx, dlq = dead_letter_queue(s, ch)
    q = s.queue(ch, arguments={"x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": "dead"})
    publish(ch, "", q, "expiring", pika.BasicProperties(expiration="100"))
    got = consume(c, ch, dlq, lambda got: len(got) >= 1, seconds=5,
                  what="the message with expiration=100 in the DLQ")
    expect(got[0].body == b"expiring", f"DLQ received {got[0].body!r}")
    expect_x_death(got[0], "expired", q)


@check
def max_length_drop_head_drops_oldest(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch, arguments={"x-max-length": 2, "x-overflow": "drop-head"})
    for body in ["m1", "m2", "m3", "m4"]:
        publish(ch, "", q, body)
    expect(message_count(ch, q) == 2, f"queue holds {message_count(ch, q)} with x-max-length 2")
    bodies = [ch.basic_get(q, auto_ack=True)[2] for _ in range(3)]
    expect(bodies == [b"m3", b"m4", None], f"basic.get gave {bodies}, expected m3, m4, empty")


@check
def max_length_drop_head_dead_letters_with_reason_maxlen(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    dlx, dlq = dead_letter_queue(s, ch)
    q = s.queue(ch, arguments={"x-max-length": 1, "x-dead-letter-exchange": dlx,
                               "x-dead-letter-routing-key": "dead"})
    publish(ch, "", q, "old")
    publish(ch, "", q, "new")
    got = consume(c, ch, dlq, lambda got: len(got) >= 1, what="the dropped head in the DLQ")
    expect(got[0].body == b"old", f"DLQ received {got[0].body!r}, expected the oldest")
    expect_x_death(got[0], "maxlen", q)


@check
def max_length_reject_publish_nacks_publisher(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    publish(ch, "", q, "first")
    try:
        publish(ch, "", q, "second")
        fail("publish into a full reject-publish queue was acked, expected basic.nack")
    except pex.NackError:
        pass
    expect(ch.is_open, "the channel closed after the nack")
    expect(message_count(ch, q) == 1, f"queue holds {message_count(ch, q)}, expected 1")
    method, _, body = ch.basic_get(q, auto_ack=True)
    expect(body == b"first", f"queue head is {body!r}, expected 'first'")
    publish(ch, "", q, "third")  # room again: acked
    method, _, body = ch.basic_get(q, auto_ack=True)
    expect(body == b"third", f"queue head is {body!r}, expected 'third'")


# --------------------------------------------------------------------------------------
# Transactions


@check
def tx_rollback_discards_and_commit_delivers(s):
    c, ch = s.channel()
    q = s.queue(ch)
    observer = c.channel()
    ch.tx_select()
    publish(ch, "", q, "rolled-back")
    ch.tx_rollback()
    expect(message_count(observer, q) == 0, "a rolled-back publish reached the queue")
    publish(ch, "", q, "committed-1")
    publish(ch, "", q, "committed-2")
    expect(message_count(observer, q) == 0, "a publish reached the queue before tx.commit")
    ch.tx_commit()
    expect(message_count(observer, q) == 2,
           f"queue holds {message_count(observer, q)} after tx.commit, expected 2")
    bodies = [observer.basic_get(q, auto_ack=True)[2] for _ in range(3)]
    expect(bodies == [b"committed-1", b"committed-2", None], f"basic.get gave {bodies}")


# --------------------------------------------------------------------------------------
# Queue declaration, errors, purge, delete


@check
def passive_declare_of_missing_queue_closes_channel_404(s):
    c, ch = s.channel()
    missing = s.name("missing")
    error = expect_channel_closed(lambda: ch.queue_declare(missing, passive=True), 404,
                                  "passive queue.declare of a missing queue")
    expect(missing in error.reply_text, f"reply text {error.reply_text!r} does not name the queue")
    expect(c.is_open, "the connection closed too")
    expect(c.channel().is_open, "a new channel could not be opened after the 404")


@check
def redeclare_with_different_durable_fails_406(s):
    c, ch = s.channel()
    q = s.queue(ch, durable=True)
    error = expect_channel_closed(lambda: ch.queue_declare(q, durable=False), 406,
                                  "redeclare durable queue as non-durable")
    expect("durable" in error.reply_text, f"reply text {error.reply_text!r} does not name 'durable'")
    ch2 = c.channel()
    expect(ch2.queue_declare(q, durable=True).method.queue == q,
           "an equivalent redeclare failed after the 406")


@check
def exclusive_queue_is_locked_to_its_connection_405(s):
    owner, ch = s.channel()
    q = s.name("exclusive")
    ch.queue_declare(q, exclusive=True)
    other = s.connect()
    expect_channel_closed(lambda: other.channel().queue_declare(q, exclusive=True), 405,
                          "declare of another connection's exclusive queue")
    expect_channel_closed(lambda: other.channel().basic_consume(q, lambda *a: None), 405,
                          "basic.consume on another connection's exclusive queue")
    expect_channel_closed(lambda: other.channel().queue_declare(q, passive=True), 405,
                          "passive declare of another connection's exclusive queue")
    expect(other.is_open, "the other connection closed")
    # The owner can use it; closing the owner deletes it.
    publish(ch, "", q, "mine")
    expect(message_count(ch, q) == 1, "the owner could not publish to its exclusive queue")
    owner.close()
    probe = other.channel()
    expect_channel_closed(lambda: probe.queue_declare(q, passive=True), 404,
                          "passive declare after the exclusive owner closed")


@check
def queue_purge_reports_message_count(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    for i in range(3):
        publish(ch, "", q, f"m{i}")
    purged = ch.queue_purge(q).method.message_count
    expect(purged == 3, f"queue.purge-ok message_count {purged}, expected 3")
    expect(message_count(ch, q) == 0, "the queue still holds messages after purge")
    publish(ch, "", q, "after")
    expect(ch.basic_get(q, auto_ack=True)[2] == b"after", "queue unusable after purge")


@check
def queue_delete_reports_message_count(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    publish(ch, "", q, "m1")
    publish(ch, "", q, "m2")
    deleted = ch.queue_delete(q).method.message_count
    expect(deleted == 2, f"queue.delete-ok message_count {deleted}, expected 2")
    expect_channel_closed(lambda: ch.queue_declare(q, passive=True), 404, "passive declare after delete")


@check
def channel_error_does_not_disturb_other_channels(s):
    c = s.connect()
    good, bad = c.channel(), c.channel()
    good.confirm_delivery()
    q = s.queue(good)
    tag, deliveries = _manual_consumer(good, q)
    publish(good, "", q, "before")
    wait_until(c, lambda: len(deliveries) >= 1, 5, "the delivery before the error")
    expect_channel_closed(lambda: bad.queue_declare(s.name("missing"), passive=True), 404,
                          "passive declare of a missing queue")
    expect(bad.is_closed, "the failing channel is not closed")
    expect(good.is_open and c.is_open, "the other channel or the connection closed")
    publish(good, "", q, "after")
    wait_until(c, lambda: len(deliveries) >= 2, 5, "a delivery on the other channel after the error")
    good.basic_ack(deliveries[1].method.delivery_tag, multiple=True)
    expect([d.text for d in deliveries] == ["before", "after"], f"delivered {deliveries}")
    good.basic_cancel(tag)
    expect(message_count(good, q) == 0, "acked messages still queued")


@check
def consumer_cancel_notification_when_queue_deleted(s):
    c, ch = s.channel()
    q = s.queue(ch)
    cancels = []
    ch.add_on_cancel_callback(lambda frame: cancels.append(frame.method.consumer_tag))
    tag = ch.basic_consume(q, lambda *a: None, auto_ack=True)
    deleter = s.connect().channel()
    deleter.queue_delete(q)
    wait_until(c, lambda: cancels, 5, "basic.cancel from the broker after queue.delete")
    expect(cancels == [tag], f"broker cancelled {cancels}, expected [{tag!r}]")
    expect(ch.is_open, "the consumer's channel closed")


@check
def publish_to_missing_exchange_closes_channel_404(s):
    c, ch = s.channel()
    missing = s.name("missing-x")
    # basic.publish has no reply: the 404 arrives as channel.close, seen by the next call.
    error = expect_channel_closed(lambda: (publish(ch, missing, "k", "lost"), ch.basic_qos(prefetch_count=1)),
                                  404, "publish to a missing exchange")
    expect(missing in error.reply_text, f"reply text {error.reply_text!r} does not name the exchange")
    expect(c.is_open, "the connection closed too")


@check
def publish_with_another_users_user_id_closes_channel_406(s):
    c, ch = s.channel()
    q = s.queue(ch)
    props = pika.BasicProperties(user_id="someone-else")
    error = expect_channel_closed(lambda: (publish(ch, "", q, "forged", props), ch.basic_qos(prefetch_count=1)),
                                  406, "publish with a forged user-id")
    expect("user_id" in error.reply_text, f"reply text {error.reply_text!r} does not name user_id")
    expect(c.is_open, "the connection closed too")


@check
def silent_client_is_dropped_after_two_heartbeat_intervals(s):
    # A client that asked for 1 s heartbeats and then stops reading and writing.
    c = pika.BlockingConnection(parameters(heartbeat=1))
    sock = c._impl._transport._sock
    deadline = time.monotonic() + 8
    closed = False
    while time.monotonic() < deadline and not closed:
        ready, _, _ = select.select([sock], [], [], 0.5)
        if ready:
            try:
                # Drain what the node sends (its heartbeats) without answering; b"" is its close.
                closed = sock.recv(65536) == b""
            except OSError:
                closed = True
    expect(closed, "the node kept a silent client for 8 s with 1 s heartbeats")


@check
def redeclare_exchange_with_different_type_fails_406(s):
    c, ch = s.channel()
    x = s.exchange(ch, "direct")
    error = expect_channel_closed(lambda: ch.exchange_declare(x, exchange_type="fanout"), 406,
                                  "redeclare a direct exchange as fanout")
    expect("type" in error.reply_text, f"reply text {error.reply_text!r} does not name 'type'")


@check
def queue_delete_if_empty_refuses_non_empty_queue_406(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    publish(ch, "", q, "m")
    expect_channel_closed(lambda: ch.queue_delete(q, if_empty=True), 406, "queue.delete if-empty on a non-empty queue")
    ch = c.channel()
    expect(message_count(ch, q) == 1, "queue.delete if-empty deleted or emptied the queue")


@check
def queue_declare_ok_reports_message_and_consumer_counts(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    for i in range(3):
        publish(ch, "", q, f"m{i}")
    ok = ch.queue_declare(q, passive=True).method
    expect((ok.message_count, ok.consumer_count) == (3, 0),
           f"declare-ok message_count/consumer_count {ok.message_count}/{ok.consumer_count}, expected 3/0")
    consumer = c.channel()
    consumer.basic_qos(prefetch_count=1)
    consumer.basic_consume(q, lambda *a: None, auto_ack=False)
    ok = ch.queue_declare(q, passive=True).method
    expect(ok.consumer_count == 1, f"declare-ok consumer_count {ok.consumer_count} with one consumer")
    server_named = ch.queue_declare("", exclusive=True).method.queue
    expect(server_named.startswith("amq.gen-"), f"server-named queue {server_named!r}")


@check
def auto_delete_queue_goes_when_last_consumer_cancels(s):
    c, ch = s.channel()
    q = s.queue(ch, auto_delete=True)
    first = ch.basic_consume(q, lambda *a: None, auto_ack=True)
    other = c.channel()
    second = other.basic_consume(q, lambda *a: None, auto_ack=True)
    ch.basic_cancel(first)
    probe = c.channel()
    expect(message_count(probe, q) == 0, "auto-delete queue vanished while a consumer remained")
    other.basic_cancel(second)
    expect_channel_closed(lambda: probe.queue_declare(q, passive=True), 404,
                          "passive declare after the last consumer of an auto-delete queue cancelled")


@check
def exclusive_consumer_refuses_second_consumer_403(s):
    c, ch = s.channel()
    q = s.queue(ch)
    ch.basic_consume(q, lambda *a: None, auto_ack=True, exclusive=True)
    expect_channel_closed(lambda: c.channel().basic_consume(q, lambda *a: None, auto_ack=True), 403,
                          "second consumer on a queue with an exclusive consumer")


@check
def message_properties_round_trip(s):
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    headers = {"str": "v", "int": 42, "neg": -7, "big": 2 ** 40, "bool": True, "decimal": decimal.Decimal("1.5"),
               "list": [1, "two", False], "table": {"nested": "yes"}, "bytes": b"\x00\xff", "none": None}
    properties = pika.BasicProperties(
        content_type="application/json", content_encoding="gzip", headers=headers, delivery_mode=2,
        priority=5, correlation_id="corr-1", reply_to="reply.q", message_id="msg-1",
        timestamp=1_700_000_000, type="order.created", user_id="guest", app_id="compat")
    publish(ch, "", q, "with-properties", properties)
    got = consume(c, ch, q, lambda got: len(got) >= 1)
    p = got[0].properties
    for field in ["content_type", "content_encoding", "delivery_mode", "priority", "correlation_id",
                  "reply_to", "message_id", "timestamp", "type", "user_id", "app_id"]:
        expect(getattr(p, field) == getattr(properties, field),
               f"property {field} is {getattr(p, field)!r}, expected {getattr(properties, field)!r}")
    got_headers = dict(p.headers or {})
    for key, value in headers.items():
        seen = got_headers.get(key, "<missing>")
        if isinstance(value, str):
            seen = text(seen)
        elif isinstance(value, list):
            seen = [text(v) for v in seen] if isinstance(seen, list) else seen
        elif isinstance(value, dict):
            seen = {k: text(v) for k, v in seen.items()} if isinstance(seen, dict) else seen
        expect(seen == value, f"header {key!r} is {got_headers.get(key, '<missing>')!r}, expected {value!r}")


@check
def message_bodies_of_any_size_round_trip(s):
    """Empty, one frame, many frames, and above 1 MiB (RabbitMQ accepts up to its
    max_message_size, 16 MiB by default in 4.x and 128 MiB in 3.x)."""
    c, ch = s.channel()
    ch.confirm_delivery()
    q = s.queue(ch)
    pattern = bytes(range(256))
    sizes = [0, 5, 131_072, 1 << 20, (1 << 20) + 4, 3 << 20]
    bodies = [(pattern * (n // 256 + 1))[:n] for n in sizes]
    for size, body in zip(sizes, bodies):
        try:
            publish(ch, "", q, body)
        except pex.NackError:
            fail(f"publish of a {size}-byte body was nacked (basic.nack)")
    got = consume(c, ch, q, lambda got: len(got) >= len(bodies), seconds=8)
    expect([m.body for m in got] == bodies,
           f"bodies changed: lengths {[len(m.body) for m in got]}, expected {sizes}")


@check
def repeated_dead_lettering_counts_in_x_death(s):
    """A -> (reject) -> B -> (reject) -> A -> (reject) -> B: the entry for (A, rejected)
    moves to the front of x-death with count 2; (B, rejected) follows with count 1."""
    c, ch = s.channel()
    ch.confirm_delivery()
    a, b = s.name("a"), s.name("b")
    ch.queue_declare(a, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": b})
    ch.queue_declare(b, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": a})
    s.queues += [a, b]
    publish(ch, "", a, "cycling")

    def reject_from(queue):
        deadline = time.monotonic() + 5
        while True:
            method, properties, body = ch.basic_get(queue, auto_ack=False)
            if method is not None:
                ch.basic_reject(method.delivery_tag, requeue=False)
                return Received(method, properties, body)
            expect(time.monotonic() < deadline, f"nothing arrived in {queue.split('.')[2]} within 5s")
            c.process_data_events(time_limit=POLL)

    reject_from(a)
    reject_from(b)
    reject_from(a)
    method, properties, body = None, None, None
    deadline = time.monotonic() + 5
    while method is None:
        expect(time.monotonic() < deadline, "the message did not come back to b within 5s")
        c.process_data_events(time_limit=POLL)
        method, properties, body = ch.basic_get(b, auto_ack=True)
    deaths = (properties.headers or {}).get("x-death") or []
    summary = [(text(d.get("queue")), text(d.get("reason")), d.get("count")) for d in deaths]
    expect(summary == [(a, "rejected", 2), (b, "rejected", 1)],
           f"x-death is {summary}, expected [(a, rejected, 2), (b, rejected, 1)]")


# --------------------------------------------------------------------------------------
# Durability across a restart (two phases)


def restart_names(tag):
    return (f"compat.restart.{tag}.x", f"compat.restart.{tag}.q", "durable-key")


def restart_write_phase(s, tag, count):
    x, q, key = restart_names(tag)
    c, ch = s.channel()
    ch.confirm_delivery()
    ch.exchange_declare(x, exchange_type="direct", durable=True)
    ch.queue_declare(q, durable=True)
    expect(message_count(ch, q) == 0, f"{q} is not empty before the write phase")
    ch.queue_bind(q, x, routing_key=key)
    for i in range(count):
        props = pika.BasicProperties(delivery_mode=2, content_type="text/plain",
                                     headers={"seq": i}, message_id=f"id-{i}")
        publish(ch, x, key, f"durable-{i}", props, mandatory=True)
    expect(message_count(ch, q) == count, f"{q} holds {message_count(ch, q)}, expected {count}")


def restart_verify_phase(s, tag, count):
    x, q, key = restart_names(tag)
    c, ch = s.channel()
    ch.confirm_delivery()
    try:
        held = message_count(ch, q)
    except pex.ChannelClosedByBroker as error:
        fail(f"durable queue {q} is gone after the restart: {error.reply_code} {error.reply_text}")
    expect(held == count, f"{q} holds {held} messages after the restart, expected {count}")
    ch.exchange_declare(x, exchange_type="direct", durable=True, passive=True)
    try:
        publish(ch, x, key, "after-restart", pika.BasicProperties(delivery_mode=2), mandatory=True)
    except pex.UnroutableError:
        fail(f"the binding {x} -> {q} ({key!r}) is gone after the restart")
    got = consume(c, ch, q, lambda got: len(got) >= count + 1, seconds=10,
                  what=f"{count + 1} messages from {q}")
    bodies = [m.text for m in got]
    expected = [f"durable-{i}" for i in range(count)] + ["after-restart"]
    if bodies != expected:
        wrong = next((i for i, (a, b) in enumerate(zip(bodies, expected)) if a != b), len(bodies))
        fail(f"after the restart {len(bodies)} messages, first difference at {wrong}: "
             f"{bodies[wrong:wrong + 3]} expected {expected[wrong:wrong + 3]}")
    for i, m in enumerate(got[:count]):
        p = m.properties
        expect(p.delivery_mode == 2 and p.content_type == "text/plain" and p.message_id == f"id-{i}"
               and (p.headers or {}).get("seq") == i,
               f"message {i} lost its properties across the restart: {p}")
    ch.queue_delete(q)
    ch.exchange_delete(x)


# --------------------------------------------------------------------------------------


def main():
    global HOST, PORT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--phase", choices=["checks", "write", "verify"], default="checks",
                        help="checks: every check (default); write/verify: the restart check's phases")
    parser.add_argument("--tag", default="restart", help="names the restart check's queue and exchange")
    parser.add_argument("--count", type=int, default=500, help="messages the restart check writes")
    parser.add_argument("--only", nargs="*", help="run only these checks")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="pika's log on stderr")
    args = parser.parse_args()
    HOST, PORT = args.host, args.port
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL, stream=sys.stderr)

    if args.list:
        for function in CHECKS:
            print(function.__name__)
        return 0

    started = time.monotonic()
    results = []
    if args.phase == "checks":
        selected = CHECKS
        if args.only:
            known = {f.__name__: f for f in CHECKS}
            unknown = [n for n in args.only if n not in known]
            if unknown:
                parser.error(f"unknown checks: {', '.join(unknown)}")
            selected = [known[n] for n in args.only]
        for function in selected:
            results.append(run_check(function))
    else:
        function = restart_write_phase if args.phase == "write" else restart_verify_phase
        results.append(run_check(function, (args.tag, args.count), seconds=30,
                                 name=f"{function.__name__}_{args.tag}"))

    passed = sum(results)
    failed = len(results) - passed
    print(f"# {len(results)} checks in {time.monotonic() - started:.1f}s", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
