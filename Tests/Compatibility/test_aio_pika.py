"""aio-pika (asyncio) as its users write it: robust connections, confirms, queue iterators,
the RPC and master/worker patterns, transactions, dead-lettering, and the exceptions a
broker's refusals become."""

import asyncio
import datetime
import json

import aio_pika
import aio_pika.exceptions as aex
import pytest
from aio_pika import DeliveryMode, ExchangeType, Message
from aio_pika.patterns import JsonRPC, Master, RPC

ASYNC_SECONDS = 30  # one test's own deadline, inside the watchdog


def run(coroutine, seconds=ASYNC_SECONDS):
    return asyncio.run(asyncio.wait_for(coroutine, seconds))


async def collect(queue, count, seconds=10, ack=True):
    """The first `count` messages a consumer of `queue` receives (acked when `ack`)."""
    received = []
    async with queue.iterator() as messages:
        async with asyncio.timeout(seconds):
            async for message in messages:
                if ack:
                    await message.ack()
                received.append(message)
                if len(received) == count:
                    break
    return received


def test_a_message_round_trips_every_property(node, names):
    async def scenario():
        async with await aio_pika.connect_robust(node.url) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(names(), auto_delete=True)
            stamp = datetime.datetime(2026, 12, 2, 10, 30, 15, tzinfo=datetime.timezone.utc)
            sent = Message(b"\x00body\xff", content_type="application/octet-stream", content_encoding="identity",
                           headers={"text": "value", "number": 42, "negative": -7, "flag": True,
                                    "nested": {"list": [1, "two", 3.5]}},
                           delivery_mode=DeliveryMode.PERSISTENT, priority=3, correlation_id="corr-1",
                           reply_to="replies", expiration=60, message_id="id-1", timestamp=stamp,
                           type="kind", user_id="guest", app_id="compat")
            await channel.default_exchange.publish(sent, routing_key=queue.name)
            got = await queue.get(timeout=5)
            await got.ack()
            assert got.body == b"\x00body\xff"
            assert (got.content_type, got.content_encoding) == ("application/octet-stream", "identity")
            assert got.headers == {"text": "value", "number": 42, "negative": -7, "flag": True,
                                   "nested": {"list": [1, "two", 3.5]}}
            assert got.delivery_mode == DeliveryMode.PERSISTENT
            assert (got.priority, got.correlation_id, got.reply_to) == (3, "corr-1", "replies")
            assert (got.message_id, got.type, got.user_id, got.app_id) == ("id-1", "kind", "guest", "compat")
            assert got.timestamp == stamp
            assert got.expiration is not None and float(got.expiration) == 60.0
            assert got.redelivered is False

    run(scenario())


def test_a_queue_iterator_receives_confirmed_messages_in_publish_order(node, names):
    async def scenario():
        async with await aio_pika.connect_robust(node.url) as connection:
            channel = await connection.channel(publisher_confirms=True)
            queue = await channel.declare_queue(names(), durable=True)
            try:
                for i in range(200):
                    await channel.default_exchange.publish(Message(str(i).encode(), delivery_mode=2),
                                                           routing_key=queue.name)
                received = await collect(queue, 200)
                assert [m.body.decode() for m in received] == [str(i) for i in range(200)]
                declared = await channel.declare_queue(queue.name, passive=True)
                assert declared.declaration_result.message_count == 0
            finally:
                await queue.delete(if_unused=False, if_empty=False)

    run(scenario())


def test_a_message_rejected_with_requeue_comes_back_flagged_redelivered(node, names):
    async def scenario():
        async with await aio_pika.connect_robust(node.url) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(names(), auto_delete=True)
            await channel.default_exchange.publish(Message(b"again"), routing_key=queue.name)
            first = await queue.get(timeout=5)
            assert first.redelivered is False
            await first.reject(requeue=True)
            second = await queue.get(timeout=5)
            assert (second.body, second.redelivered) == (b"again", True)
            await second.ack()
            assert await queue.get(fail=False, timeout=5) is None

    run(scenario())


def test_a_message_nacked_without_requeue_is_dead_lettered_with_x_death(node, names):
    async def scenario():
        async with await aio_pika.connect_robust(node.url) as connection:
            channel = await connection.channel()
            dead = await channel.declare_exchange(names("dlx"), ExchangeType.FANOUT, auto_delete=True)
            graveyard = await channel.declare_queue(names("dead"), auto_delete=True)
            await graveyard.bind(dead)
            queue = await channel.declare_queue(names("work"), auto_delete=True,
                                                arguments={"x-dead-letter-exchange": dead.name})
            await channel.default_exchange.publish(Message(b"poison"), routing_key=queue.name)
            message = await queue.get(timeout=5)
            await message.nack(requeue=False)
            dead_lettered = (await collect(graveyard, 1))[0]
            assert dead_lettered.body == b"poison"
            death = dead_lettered.headers["x-death"][0]
            assert (death["reason"], death["queue"], death["count"]) == ("rejected", queue.name, 1)
            assert death["exchange"] == ""
            assert await queue.get(fail=False, timeout=5) is None

    run(scenario())


def test_prefetch_bounds_what_a_consumer_holds_unacknowledged(node, names):
    async def scenario():
        async with await aio_pika.connect_robust(node.url) as connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=3)
            queue = await channel.declare_queue(names(), auto_delete=True)
            for i in range(10):
                await channel.default_exchange.publish(Message(str(i).encode()), routing_key=queue.name)
            held = []
            arrived = asyncio.Event()

            async def on_message(message):
                held.append(message)
                arrived.set()

            tag = await queue.consume(on_message)
            async with asyncio.timeout(5):
                while len(held) < 3:
                    arrived.clear()
                    await arrived.wait()
            # Nothing more may come while three are held: the broker has sent what qos allows.
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    while len(held) == 3:
                        arrived.clear()
                        await arrived.wait()
            assert [m.body for m in held] == [b"0", b"1", b"2"]
            await held[0].ack()
            async with asyncio.timeout(5):
                while len(held) < 4:
                    arrived.clear()
                    await arrived.wait()
            assert held[3].body == b"3"
            await queue.cancel(tag)

    run(scenario())


def test_a_mandatory_unroutable_publish_raises_delivery_error(node, names):
    async def scenario():
        async with await aio_pika.connect_robust(node.url) as connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.declare_exchange(names("x"), ExchangeType.DIRECT, auto_delete=True)
            keep = await channel.declare_queue(names(), auto_delete=True)
            await keep.bind(exchange, "bound")
            with pytest.raises(aex.DeliveryError) as refused:
                await exchange.publish(Message(b"nowhere"), routing_key="unbound", mandatory=True)
            assert refused.value.message.body == b"nowhere"
            confirmed = await exchange.publish(Message(b"somewhere"), routing_key="bound", mandatory=True)
            assert confirmed is not None
            assert (await keep.get(timeout=5)).body == b"somewhere"

    run(scenario())


def test_a_publish_to_a_missing_exchange_closes_the_channel_with_404(node, names):
    async def scenario():
        async with await aio_pika.connect(node.url) as connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = aio_pika.Exchange(channel, names("missing"), ExchangeType.DIRECT)
            with pytest.raises(aex.ChannelNotFoundEntity) as closed:
                await exchange.publish(Message(b"lost"), routing_key="any")
            assert "NOT_FOUND" in str(closed.value)
            assert channel.is_closed
            # The connection carries on: a new channel works.
            other = await connection.channel()
            queue = await other.declare_queue(names(), auto_delete=True)
            await other.default_exchange.publish(Message(b"fine"), routing_key=queue.name)
            assert (await queue.get(timeout=5)).body == b"fine"

    run(scenario())


def test_a_passive_declare_of_a_missing_queue_raises_not_found(node, names):
    async def scenario():
        async with await aio_pika.connect(node.url) as connection:
            channel = await connection.channel()
            with pytest.raises(aex.ChannelNotFoundEntity):
                await channel.declare_queue(names("absent"), passive=True)
            channel = await connection.channel()
            queue = await channel.declare_queue(names("present"), auto_delete=True)
            assert (await channel.declare_queue(queue.name, passive=True)).name == queue.name

    run(scenario())


def test_a_redeclare_with_other_arguments_raises_precondition_failed(node, names):
    async def scenario():
        async with await aio_pika.connect(node.url) as connection:
            channel = await connection.channel()
            name = names()
            queue = await channel.declare_queue(name, auto_delete=True, arguments={"x-max-length": 10})
            with pytest.raises(aex.ChannelPreconditionFailed) as refused:
                await channel.declare_queue(name, auto_delete=True, arguments={"x-max-length": 20})
            assert "x-max-length" in str(refused.value)
            channel = await connection.channel()
            await channel.queue_delete(queue.name)

    run(scenario())


def test_topic_and_exchange_to_exchange_bindings_route_and_an_unbound_auto_delete_exchange_goes(node, names):
    async def scenario():
        async with await aio_pika.connect_robust(node.url) as connection:
            channel = await connection.channel(publisher_confirms=True)
            front = await channel.declare_exchange(names("front"), ExchangeType.FANOUT, auto_delete=True)
            topics = await channel.declare_exchange(names("topics"), ExchangeType.TOPIC, auto_delete=True)
            await topics.bind(front)
            errors = await channel.declare_queue(names("errors"), auto_delete=True)
            everything_eu = await channel.declare_queue(names("eu"), auto_delete=True)
            await errors.bind(topics, "*.error")
            await everything_eu.bind(topics, "eu.#")
            for key in ["eu.error", "us.error", "eu.info.disk", "us.info"]:
                await front.publish(Message(key.encode()), routing_key=key)
            assert sorted(m.body for m in await collect(errors, 2)) == [b"eu.error", b"us.error"]
            assert sorted(m.body for m in await collect(everything_eu, 2)) == [b"eu.error", b"eu.info.disk"]
            # An auto-delete exchange goes with the last binding it is the source of.
            await topics.unbind(front)
            with pytest.raises(aex.ChannelNotFoundEntity):
                await front.publish(Message(b"eu.error"), routing_key="eu.error")

    run(scenario())


def test_a_transaction_delivers_on_commit_and_discards_on_rollback(node, names):
    async def scenario():
        async with await aio_pika.connect_robust(node.url) as connection:
            channel = await connection.channel(publisher_confirms=False)
            queue = await channel.declare_queue(names(), auto_delete=True)
            async with channel.transaction():
                await channel.default_exchange.publish(Message(b"kept"), routing_key=queue.name)
            transaction = channel.transaction()
            await transaction.select()
            await channel.default_exchange.publish(Message(b"dropped"), routing_key=queue.name)
            await transaction.rollback()
            assert (await queue.get(timeout=5)).body == b"kept"
            assert await queue.get(fail=False, timeout=5) is None

    run(scenario())


def test_a_purge_and_a_delete_report_how_many_messages_went(node, names):
    async def scenario():
        async with await aio_pika.connect(node.url) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(names(), durable=True)
            for _ in range(7):
                await channel.default_exchange.publish(Message(b"m"), routing_key=queue.name)
            assert (await queue.purge()).message_count == 7
            for _ in range(3):
                await channel.default_exchange.publish(Message(b"m"), routing_key=queue.name)
            assert (await queue.delete(if_unused=False, if_empty=False)).message_count == 3

    run(scenario())


def test_a_message_past_its_expiration_is_not_delivered(node, names):
    async def scenario():
        async with await aio_pika.connect(node.url) as connection:
            channel = await connection.channel(publisher_confirms=True)
            queue = await channel.declare_queue(names(), auto_delete=True)
            await channel.default_exchange.publish(Message(b"stale", expiration=0.05), routing_key=queue.name)
            await channel.default_exchange.publish(Message(b"fresh"), routing_key=queue.name)
            await asyncio.sleep(0.2)  # past the first message's 50 ms, the point of the test
            assert (await queue.get(timeout=5)).body == b"fresh"
            assert await queue.get(fail=False, timeout=5) is None

    run(scenario())


def test_a_20_mb_message_round_trips(node, names):
    async def scenario():
        async with await aio_pika.connect(node.url) as connection:
            channel = await connection.channel(publisher_confirms=True)
            queue = await channel.declare_queue(names(), auto_delete=True)
            body = bytes(range(256)) * (20 * 1024 * 1024 // 256)
            await channel.default_exchange.publish(Message(body), routing_key=queue.name)
            got = await queue.get(timeout=10)
            await got.ack()
            assert got.body == body

    run(scenario())


# --- the RPC pattern ----------------------------------------------------------------------


def test_rpc_calls_a_registered_method_and_returns_its_result(node, names):
    async def scenario():
        async with await aio_pika.connect_robust(node.url) as connection:
            server = await RPC.create(await connection.channel())
            client = await RPC.create(await connection.channel())
            method = names("multiply")

            async def multiply(*, x, y):
                return x * y

            await server.register(method, multiply, auto_delete=True)
            results = await asyncio.gather(*(client.call(method, kwargs={"x": i, "y": 3}) for i in range(20)))
            assert results == [i * 3 for i in range(20)]
            await client.close()
            await server.close()

    run(scenario())


def test_json_rpc_returns_results_and_raises_the_remote_exception(node, names):
    async def scenario():
        async with await aio_pika.connect_robust(node.url) as connection:
            server = await JsonRPC.create(await connection.channel())
            client = await JsonRPC.create(await connection.channel())
            method = names("divide")

            async def divide(*, a, b):
                return {"quotient": a / b}

            await server.register(method, divide, auto_delete=True)
            assert await client.call(method, kwargs={"a": 9, "b": 3}) == {"quotient": 3.0}
            with pytest.raises(Exception) as failed:
                await client.call(method, kwargs={"a": 1, "b": 0})
            assert "ZeroDivisionError" in repr(failed.value) or "division" in str(failed.value)
            await client.close()
            await server.close()

    run(scenario())


def test_rpc_instances_share_their_dead_letter_exchange_and_close_in_any_order(node, names):
    # Every RPC instance declares the auto-delete headers exchange `rpc.dlx`, binds its reply
    # queue to it and names it as its queues' dead-letter exchange; closing one (unbinding)
    # must leave the exchange to the others.
    async def scenario():
        async with await aio_pika.connect_robust(node.url) as connection:
            first = await RPC.create(await connection.channel())
            second = await RPC.create(await connection.channel())
            third = await RPC.create(await connection.channel())
            method = names("echo")

            async def echo(*, value):
                return value

            await first.register(method, echo, auto_delete=True)
            assert await second.call(method, kwargs={"value": "a"}) == "a"
            await second.close()
            assert await third.call(method, kwargs={"value": "b"}) == "b"
            again = await RPC.create(await connection.channel())
            assert await again.call(method, kwargs={"value": "c"}) == "c"
            await again.close()
            await third.close()
            await first.close()

    run(scenario())


def test_rpc_call_to_an_unregistered_method_fails_at_once(node, names):
    async def scenario():
        async with await aio_pika.connect_robust(node.url) as connection:
            client = await RPC.create(await connection.channel())
            # Published mandatory: the broker returns it, and the call fails with the message.
            with pytest.raises(aex.MessageProcessError, match="returned"):
                async with asyncio.timeout(5):
                    await client.call(names("nobody"), kwargs={})
            await client.close()

    run(scenario())


def test_master_and_workers_process_every_task_once(node, names):
    async def scenario():
        async with await aio_pika.connect_robust(node.url) as connection:
            done = []
            all_done = asyncio.Event()
            task = names("task")

            async def worker(*, n):
                done.append(n)
                if len(done) == 30:
                    all_done.set()

            master = Master(await connection.channel())
            workers = [Master(await connection.channel()) for _ in range(2)]
            queues = [await w.create_worker(task, worker, auto_delete=True) for w in workers]
            for n in range(30):
                await master.create_task(task, kwargs={"n": n})
            async with asyncio.timeout(10):
                await all_done.wait()
            assert sorted(done) == list(range(30))
            for queue in queues:
                await queue.close()

    run(scenario())


def test_a_robust_channel_is_reopened_after_the_broker_closed_it(node, names):
    async def scenario():
        async with await aio_pika.connect_robust(node.url) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(names(), auto_delete=True)
            with pytest.raises(aex.ChannelNotFoundEntity):
                await channel.declare_queue(names("absent"), passive=True)
            # The robust channel reopens itself and its queue declarations.
            async with asyncio.timeout(10):
                while channel.is_closed:
                    await asyncio.sleep(0.05)
            await channel.default_exchange.publish(Message(b"after"), routing_key=queue.name)
            assert (await queue.get(timeout=5)).body == b"after"

    run(scenario())


# --- across a leader change ------------------------------------------------------------------


async def publish_confirmed(channel, queue_name, bodies, deadline_seconds=25):
    """Publishes each body with confirms until confirmed, retrying what was not; returns
    the bodies confirmed (in order)."""
    confirmed = []
    deadline = asyncio.get_running_loop().time() + deadline_seconds
    for body in bodies:
        while True:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{body!r} was never confirmed; {len(confirmed)} were")
            try:
                await channel.default_exchange.publish(Message(body, delivery_mode=2), routing_key=queue_name,
                                                       timeout=5)
                confirmed.append(body)
                break
            except (aex.DeliveryError, aex.ChannelInvalidStateError, aex.ConnectionClosed,
                    aex.ChannelClosed, asyncio.TimeoutError, ConnectionError, RuntimeError):
                await asyncio.sleep(0.1)
    return confirmed


@pytest.mark.leader_change
@pytest.mark.seconds(90)
def test_a_consumer_through_a_follower_receives_every_confirmed_message_across_a_leader_kill(cluster, names):
    leader = cluster.leader()
    follower = cluster.followers()[0]

    async def scenario():
        url = f"amqp://guest:guest@127.0.0.1:{follower.amqp_port}/"
        async with await aio_pika.connect_robust(url, reconnect_interval=0.2) as connection:
            channel = await connection.channel(publisher_confirms=True)
            queue = await channel.declare_queue(names(), durable=True)
            received = set()

            async def on_message(message):
                received.add(message.body)
                await message.ack()

            consumer_channel = await connection.channel()
            consumer_queue = await consumer_channel.declare_queue(queue.name, durable=True)
            await consumer_queue.consume(on_message)
            bodies = [f"m{i}".encode() for i in range(300)]
            confirmed = await publish_confirmed(channel, queue.name, bodies[:100])
            cluster.kill(leader)
            confirmed += await publish_confirmed(channel, queue.name, bodies[100:])
            async with asyncio.timeout(20):
                while not set(confirmed) <= received:
                    await asyncio.sleep(0.05)
            await queue.delete(if_unused=False, if_empty=False)

    run(scenario(), seconds=80)
    assert cluster.wait_for_leader(other_than=leader) is not None


@pytest.mark.leader_change
@pytest.mark.seconds(90)
def test_a_robust_connection_to_a_killed_leader_reconnects_and_restores_its_consumer(cluster, names):
    leader = cluster.leader()
    follower = cluster.followers()[0]

    async def scenario():
        queue_name = names()
        received = set()
        url = f"amqp://guest:guest@127.0.0.1:{leader.amqp_port}/"
        async with await aio_pika.connect_robust(url, reconnect_interval=0.2) as robust, \
                await aio_pika.connect_robust(f"amqp://guest:guest@127.0.0.1:{follower.amqp_port}/") as publisher:
            channel = await robust.channel()
            queue = await channel.declare_queue(queue_name, durable=True)

            async def on_message(message):
                received.add(message.body)
                await message.ack()

            await queue.consume(on_message)
            publishing = await publisher.channel(publisher_confirms=True)
            confirmed = await publish_confirmed(publishing, queue_name, [b"before"])
            async with asyncio.timeout(10):
                while b"before" not in received:
                    await asyncio.sleep(0.05)
            reconnected = asyncio.Event()
            robust.reconnect_callbacks.add(lambda *_: reconnected.set())
            cluster.kill(leader)
            confirmed += await publish_confirmed(publishing, queue_name, [f"while-{i}".encode() for i in range(50)])
            await asyncio.get_running_loop().run_in_executor(None, cluster.restart, leader)
            async with asyncio.timeout(30):
                await reconnected.wait()
            confirmed += await publish_confirmed(publishing, queue_name, [b"after"])
            async with asyncio.timeout(20):
                while not set(confirmed) <= received:
                    await asyncio.sleep(0.05)
            await publishing.queue_delete(queue_name)

    run(scenario(), seconds=80)
