"""pika 1.4's asyncio adapter (`pika.adapters.asyncio_connection.AsyncioConnection`),
used callback style on an asyncio event loop the test runs itself.

Covered: opening a connection and a channel and closing both cleanly (the on_close
callbacks' reasons), publisher confirms counted by an ack callback for pipelined
publishes, a mandatory publish returned before its ack, consuming with manual acks under
a prefetch limit, nack-requeue redelivery, basic_cancel and a server-sent Basic.Cancel,
a channel closed by the server (404) reported to the channel's on_close callback while
the connection stays open, and a connection that registers the blocked / unblocked
callbacks.

Each test's coroutine runs under a deadline; every wait on a callback is bounded and
fails with what it was waiting for, and an exception raised inside a pika callback fails
the test at once instead of being lost in the event loop's log.
"""

import asyncio
import functools

import pika
import pika.exceptions as pex
import pytest
from pika.adapters.asyncio_connection import AsyncioConnection


WAIT = 10.0  # one callback's deadline


class Session:
    """The test's event loop, its connections, and futures that pika callbacks settle."""

    def __init__(self, loop, node):
        self.loop = loop
        self.node = node
        self.crashed = loop.create_future()
        self.connections = []
        self.closed = {}  # connection -> future of its on_close reason

    def guard(self, callback):
        """`callback`, but an exception it raises fails the test's waits."""
        @functools.wraps(callback)
        def guarded(*args, **kwargs):
            try:
                return callback(*args, **kwargs)
            except BaseException as error:
                if not self.crashed.done():
                    self.crashed.set_exception(error)
        return guarded

    def future(self):
        return self.loop.create_future()

    def settles(self, future):
        """A pika callback that resolves `future` with its (first) argument."""
        def settle(*args):
            if not future.done():
                future.set_result(args[0] if len(args) == 1 else args)
        return settle

    async def wait(self, future, what, seconds=WAIT):
        done, _ = await asyncio.wait({future, self.crashed}, timeout=seconds,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self.crashed in done:
            self.crashed.result()  # raises the callback's exception
        if future not in done:
            raise AssertionError(f"no {what} within {seconds} s")
        return future.result()

    async def until(self, condition, what, seconds=WAIT):
        """Waits (yielding to the loop) until `condition()` holds."""
        deadline = self.loop.time() + seconds
        while not condition():
            if self.crashed.done():
                self.crashed.result()
            if self.loop.time() > deadline:
                raise AssertionError(f"no {what} within {seconds} s")
            await asyncio.sleep(0.005)

    async def connect(self, configure=None):
        opened = self.future()
        closed = self.future()

        def on_open_error(connection, error):
            if not opened.done():
                opened.set_exception(error)

        connection = AsyncioConnection(
            pika.URLParameters(self.node.url),
            on_open_callback=self.settles(opened),
            on_open_error_callback=on_open_error,
            on_close_callback=self.settles(closed),
            custom_ioloop=self.loop)
        self.connections.append(connection)
        self.closed[connection] = closed
        if configure:
            configure(connection)
        assert await self.wait(opened, "Connection.OpenOk") is connection
        return connection

    async def channel(self, connection):
        opened = self.future()
        connection.channel(on_open_callback=self.settles(opened))
        return await self.wait(opened, "Channel.OpenOk")

    async def rpc(self, method, *args, what=None, **kwargs):
        """Calls a pika channel method with `callback=` and returns the reply frame."""
        reply = self.future()
        method(*args, callback=self.settles(reply), **kwargs)
        return await self.wait(reply, what or f"reply to {method.__name__}")

    async def close(self, connection):
        """Closes `connection` and returns the reason its on_close callback got."""
        connection.close()
        closed, reason = await self.wait(self.closed[connection], "connection on_close")
        assert closed is connection
        return reason

    async def close_all(self):
        for connection in self.connections:
            if not (connection.is_closed or connection.is_closing):
                connection.close()
            if not connection.is_closed:
                try:
                    await asyncio.wait_for(asyncio.shield(self.closed[connection]), 5)
                except (asyncio.TimeoutError, Exception):
                    pass


def run(node, scenario, seconds=30):
    """Runs `await scenario(session)` on a fresh event loop within `seconds`, then closes
    whatever connections are left."""
    loop = asyncio.new_event_loop()
    session = Session(loop, node)
    try:
        loop.run_until_complete(asyncio.wait_for(scenario(session), seconds))
    finally:
        try:
            loop.run_until_complete(session.close_all())
        finally:
            loop.close()


async def declare_exclusive(session, channel, name):
    frame = await session.rpc(channel.queue_declare, queue=name, exclusive=True)
    return frame.method.queue


async def passive_counts(session, channel, name):
    frame = await session.rpc(channel.queue_declare, queue=name, passive=True)
    return frame.method.message_count, frame.method.consumer_count


async def confirmed_channel(session, connection):
    """A channel in confirm mode and the set of delivery tags acked so far."""
    channel = await session.channel(connection)
    acked, nacked = set(), set()
    state = {"last": 0}

    def on_confirm(frame):
        method = frame.method
        tags = range(state["last"] + 1, method.delivery_tag + 1) if method.multiple else [method.delivery_tag]
        target = acked if isinstance(method, pika.spec.Basic.Ack) else nacked
        target.update(tags)
        state["last"] = max(state["last"], method.delivery_tag)

    await session.rpc(channel.confirm_delivery, session.guard(on_confirm), what="Confirm.SelectOk")
    return channel, acked, nacked


# --------------------------------------------------------------------------------------


def test_connection_and_channel_open_and_close_cleanly(node, names):
    async def scenario(session):
        connection = await session.connect()
        assert connection.is_open
        channel = await session.channel(connection)
        assert channel.is_open and channel.channel_number == 1
        assert await declare_exclusive(session, channel, names()) == names()
        channel_closed = session.future()
        channel.add_on_close_callback(session.settles(channel_closed))
        channel.close()
        closed_channel, reason = await session.wait(channel_closed, "channel on_close")
        assert closed_channel is channel and channel.is_closed
        assert isinstance(reason, pex.ChannelClosedByClient)
        assert (reason.reply_code, reason.reply_text) == (0, "Normal shutdown")  # pika's default

        reason = await session.close(connection)
        assert isinstance(reason, pex.ConnectionClosedByClient)
        assert (reason.reply_code, reason.reply_text) == (200, "Normal shutdown")
        assert connection.is_closed

    run(node, scenario)


def test_confirm_callback_acks_every_pipelined_publish(node, names):
    count = 200

    async def scenario(session):
        connection = await session.connect()
        channel, acked, nacked = await confirmed_channel(session, connection)
        queue = await declare_exclusive(session, channel, names())
        for i in range(count):
            channel.basic_publish("", queue, f"m{i}".encode(),
                                  pika.BasicProperties(delivery_mode=2, message_id=str(i)))
        await session.until(lambda: len(acked) + len(nacked) >= count, f"{count} confirms")
        assert acked == set(range(1, count + 1))
        assert not nacked
        assert await passive_counts(session, channel, queue) == (count, 0)
        await session.close(connection)

    run(node, scenario)


def test_mandatory_unroutable_publish_is_returned_before_its_ack(node, names):
    async def scenario(session):
        connection = await session.connect()
        channel, acked, nacked = await confirmed_channel(session, connection)
        events = []
        returned = session.future()

        def on_return(ch, method, properties, body):
            events.append("return")
            session.settles(returned)((method, properties, body))

        channel.add_on_return_callback(session.guard(on_return))
        nowhere = names("nowhere")
        channel.basic_publish("", nowhere, b"lost", pika.BasicProperties(correlation_id="c-1"), mandatory=True)
        await session.until(lambda: acked or nacked, "confirm of the returned message")
        events.append("ack")
        method, properties, body = await session.wait(returned, "Basic.Return")
        assert (method.reply_code, method.reply_text, method.exchange, method.routing_key) == \
            (312, "NO_ROUTE", "", nowhere)
        assert properties.correlation_id == "c-1" and body == b"lost"
        assert acked == {1} and not nacked
        assert events == ["return", "ack"]
        await session.close(connection)

    run(node, scenario)


def test_consume_with_manual_ack_honours_prefetch(node, names):
    total, prefetch = 10, 3

    async def scenario(session):
        connection = await session.connect()
        publisher, acked, _ = await confirmed_channel(session, connection)
        queue = await declare_exclusive(session, publisher, names())
        for i in range(total):
            publisher.basic_publish("", queue, f"m{i}".encode())
        await session.until(lambda: len(acked) == total, "publisher confirms")

        consumer = await session.channel(connection)
        await session.rpc(consumer.basic_qos, prefetch_count=prefetch)
        held, bodies = [], []

        def on_message(ch, method, properties, body):
            held.append(method.delivery_tag)
            bodies.append(body)

        tag = consumer.basic_consume(queue, session.guard(on_message))
        while len(bodies) < total:
            expected = min(prefetch, total - len(bodies))
            await session.until(lambda: len(held) == expected, f"{expected} unacked deliveries")
            # The window is full: the broker holds the rest back.
            assert await passive_counts(session, publisher, queue) == (total - len(bodies), 1)
            assert len(held) == expected
            consumer.basic_ack(held[-1], multiple=True)
            held.clear()
        assert bodies == [f"m{i}".encode() for i in range(total)]
        cancel_ok = await session.rpc(consumer.basic_cancel, tag)
        assert cancel_ok.method.consumer_tag == tag
        assert await passive_counts(session, publisher, queue) == (0, 0)
        await session.close(connection)

    run(node, scenario)


def test_nack_with_requeue_redelivers_flagged_redelivered(node, names):
    async def scenario(session):
        connection = await session.connect()
        channel, acked, _ = await confirmed_channel(session, connection)
        queue = await declare_exclusive(session, channel, names())
        channel.basic_publish("", queue, b"retry me", pika.BasicProperties(headers={"n": 1}))
        await session.until(lambda: acked == {1}, "the publish's confirm")
        deliveries = []
        done = session.future()

        def on_message(ch, method, properties, body):
            deliveries.append((method.redelivered, body, properties.headers))
            if len(deliveries) == 1:
                ch.basic_nack(method.delivery_tag, requeue=True)
            else:
                ch.basic_ack(method.delivery_tag)
                session.settles(done)(None)

        consumer = await session.channel(connection)
        consumer.basic_consume(queue, session.guard(on_message))
        await session.wait(done, "the redelivery")
        assert deliveries == [(False, b"retry me", {"n": 1}), (True, b"retry me", {"n": 1})]
        assert await passive_counts(session, channel, queue) == (0, 1)
        await session.close(connection)

    run(node, scenario)


def test_basic_cancel_stops_deliveries(node, names):
    async def scenario(session):
        connection = await session.connect()
        channel, acked, _ = await confirmed_channel(session, connection)
        queue = await declare_exclusive(session, channel, names())
        received = []
        first = session.future()

        def on_message(ch, method, properties, body):
            received.append(body)
            ch.basic_ack(method.delivery_tag)
            session.settles(first)(None)

        consumer = await session.channel(connection)
        tag = consumer.basic_consume(queue, session.guard(on_message), consumer_tag="my-consumer")
        assert tag == "my-consumer"
        channel.basic_publish("", queue, b"before cancel")
        await session.wait(first, "the first delivery")
        cancel_ok = await session.rpc(consumer.basic_cancel, tag)
        assert isinstance(cancel_ok.method, pika.spec.Basic.CancelOk)
        assert cancel_ok.method.consumer_tag == "my-consumer"
        assert consumer.consumer_tags == []
        channel.basic_publish("", queue, b"after cancel")
        await session.until(lambda: acked == {1, 2}, "publisher confirms")
        assert await passive_counts(session, channel, queue) == (1, 0)
        assert received == [b"before cancel"]
        await session.close(connection)

    run(node, scenario)


def test_deleting_the_queue_sends_the_consumer_basic_cancel(node, names):
    async def scenario(session):
        connection = await session.connect()
        channel = await session.channel(connection)
        queue = names()
        await session.rpc(channel.queue_declare, queue=queue, auto_delete=False)
        consumer = await session.channel(connection)
        cancelled = session.future()
        consumer.add_on_cancel_callback(session.settles(cancelled))
        tag = await session.rpc(consumer.basic_consume, queue, session.guard(lambda *a: None),
                                what="Basic.ConsumeOk")
        tag = tag.method.consumer_tag
        deleted = await session.rpc(channel.queue_delete, queue=queue)
        assert deleted.method.message_count == 0
        frame = await session.wait(cancelled, "a server-sent Basic.Cancel")
        assert isinstance(frame.method, pika.spec.Basic.Cancel)
        assert frame.method.consumer_tag == tag
        assert consumer.is_open and consumer.consumer_tags == []
        await session.close(connection)

    run(node, scenario)


def test_passive_declare_of_missing_queue_closes_only_the_channel(node, names):
    async def scenario(session):
        connection = await session.connect()
        channel = await session.channel(connection)
        channel_closed = session.future()
        channel.add_on_close_callback(session.settles(channel_closed))
        missing = names("missing")
        declared = session.future()
        channel.queue_declare(missing, passive=True, callback=session.settles(declared))
        closed_channel, reason = await session.wait(channel_closed, "channel on_close")
        assert closed_channel is channel and channel.is_closed
        assert isinstance(reason, pex.ChannelClosedByBroker)
        assert reason.reply_code == 404
        assert reason.reply_text == f"NOT_FOUND - no queue '{missing}' in vhost '/'"
        assert not declared.done()

        assert connection.is_open
        other = await session.channel(connection)
        queue = await declare_exclusive(session, other, names())
        assert await passive_counts(session, other, queue) == (0, 0)
        reason = await session.close(connection)
        assert isinstance(reason, pex.ConnectionClosedByClient) and reason.reply_code == 200

    run(node, scenario)


def test_connection_with_blocked_callbacks_registered_opens_and_works(node, names):
    notices = []

    def configure(connection):
        connection.add_on_connection_blocked_callback(lambda c, frame: notices.append(("blocked", frame)))
        connection.add_on_connection_unblocked_callback(lambda c, frame: notices.append(("unblocked", frame)))

    async def scenario(session):
        connection = await session.connect(configure)
        channel, acked, _ = await confirmed_channel(session, connection)
        queue = await declare_exclusive(session, channel, names())
        channel.basic_publish("", queue, b"flowing")
        await session.until(lambda: acked == {1}, "the publish's confirm")
        got = await session.rpc(channel.basic_get, queue, auto_ack=True, what="Basic.GetOk")
        _, method, properties, body = got
        assert body == b"flowing" and method.message_count == 0
        assert notices == []
        await session.close(connection)

    run(node, scenario)
