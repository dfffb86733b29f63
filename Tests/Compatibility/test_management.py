"""Queues, exchanges, bindings and definitions as RabbitMQ's tools manage them: rabbitmqadmin
(Debian's rabbitmq-server ships it) against the management routes of the leader and of a
follower; messages published with pika show in its counts, and rabbitmqadmin's `get` takes
them out as RabbitMQ's does."""

import base64
import json

import pika

from berth_cluster import HOST
from test_access import admin, api, eventually, managed_node, run_admin, short_name  # noqa: F401 (managed_node is a fixture)


def listed(node, vhost, what, *columns):
    """rabbitmqadmin's list of `what` in `vhost` (its raw_json format), each item cut to `columns`."""
    items = json.loads(admin(node, "-V", vhost, "-f", "raw_json", "list", what))
    return [{column: item[column] for column in columns} for item in items]


def test_rabbitmqadmin_declares_lists_counts_and_deletes(managed_node):
    cluster, node = managed_node
    vhost = short_name("vhost")
    admin(node, "declare", "vhost", f"name={vhost}")
    try:
        admin(node, "-V", vhost, "declare", "queue", "name=orders", "durable=true",
              'arguments={"x-queue-type": "quorum", "x-max-length": 100}')
        admin(node, "-V", vhost, "declare", "exchange", "name=orders.topic", "type=topic")
        admin(node, "-V", vhost, "declare", "binding", "source=orders.topic", "destination=orders", "routing_key=eu.#")

        queues = listed(node, vhost, "queues", "name", "type", "durable", "arguments")
        assert queues == [{"name": "orders", "type": "quorum", "durable": True,
                           "arguments": {"x-queue-type": "quorum", "x-max-length": 100}}]
        exchanges = {e["name"]: e["type"] for e in listed(node, vhost, "exchanges", "name", "type")}
        assert exchanges["orders.topic"] == "topic" and exchanges[""] == "direct"
        bindings = [(b["source"], b["destination"], b["routing_key"]) for b in listed(node, vhost, "bindings", "source", "destination", "routing_key")]
        assert bindings == [("", "orders", "orders"), ("orders.topic", "orders", "eu.#")]

        # Published through the node with pika (guest was given the vhost when it made it).
        connection = pika.BlockingConnection(pika.ConnectionParameters(host=HOST, port=node.amqp_port, virtual_host=vhost))
        channel = connection.channel()
        channel.confirm_delivery()
        for n in range(5):
            channel.basic_publish("orders.topic", "eu.de", f"order {n}".encode(), pika.BasicProperties(delivery_mode=2))
        channel.basic_qos(prefetch_count=2)
        channel.basic_consume("orders", lambda *_: None)
        counts = None
        for _ in range(100):
            connection.process_data_events(time_limit=0.05)
            counts = listed(node, vhost, "queues", "name", "messages", "messages_ready", "messages_unacknowledged", "consumers")[0]
            if counts["messages_unacknowledged"] == 2:
                break
        assert counts == {"name": "orders", "messages": 5, "messages_ready": 3, "messages_unacknowledged": 2, "consumers": 1}, \
            "the leader's counts, through either node"
        overview = json.loads(admin(node, "-f", "raw_json", "show", "overview"))[0]
        assert overview["product_name"] == "Berth" and overview["queue_totals"]["messages"] >= 5
        connection.close()

        # Published through the API, by the default exchange and by a topic, and read back.
        admin(node, "-V", vhost, "declare", "queue", "name=notes")
        admin(node, "-V", vhost, "publish", "routing_key=notes", "payload=hello from the API", 'properties={"delivery_mode": 2, "headers": {"n": 7}}')
        assert "Message published but NOT routed" in admin(node, "-V", vhost, "publish", "exchange=orders.topic", "routing_key=us.ca", "payload=x")
        reader = pika.BlockingConnection(pika.ConnectionParameters(host=HOST, port=node.amqp_port, virtual_host=vhost))
        got = reader.channel().basic_get("notes", auto_ack=True)
        assert got[2] == b"hello from the API" and got[1].delivery_mode == 2 and got[1].headers == {"n": 7}
        reader.close()

        admin(node, "-V", vhost, "delete", "binding", "source=orders.topic", "destination_type=queue", "destination=orders",
              "properties_key=eu.#")
        assert [b["destination"] for b in listed(node, vhost, "bindings", "source", "destination") if b["source"] == "orders.topic"] == []
        admin(node, "-V", vhost, "delete", "exchange", "name=orders.topic")
        admin(node, "-V", vhost, "purge", "queue", "name=orders")
        admin(node, "-V", vhost, "delete", "queue", "name=orders")
        assert api(node, "GET", f"/api/queues/{vhost}/orders")[0] == 404
    finally:
        api(node, "DELETE", f"/api/vhosts/{vhost}")


def test_definitions_exported_and_imported_come_back_alike(managed_node, tmp_path):
    cluster, node = managed_node
    vhost, user = short_name("vhost"), short_name("user")
    admin(node, "declare", "vhost", f"name={vhost}")
    admin(node, "declare", "user", f"name={user}", "password=pw", "tags=monitoring")
    admin(node, "declare", "permission", f"vhost={vhost}", f"user={user}", "configure=^q", "write=.*", "read=.*")
    admin(node, "-V", vhost, "declare", "queue", "name=q1", 'arguments={"x-max-length": 5}')
    admin(node, "-V", vhost, "declare", "exchange", "name=e1", "type=fanout", "durable=true")
    admin(node, "-V", vhost, "declare", "binding", "source=e1", "destination=q1")
    exported = tmp_path / "definitions.json"
    admin(node, "export", str(exported))
    before = json.loads(exported.read_text())

    api(node, "DELETE", f"/api/vhosts/{vhost}")
    api(node, "DELETE", f"/api/users/{user}")
    assert api(node, "GET", f"/api/users/{user}")[0] == 404
    admin(node, "import", str(exported))
    try:
        again = tmp_path / "again.json"
        admin(node, "export", str(again))
        after = json.loads(again.read_text())
        for key in ["users", "vhosts", "permissions", "queues", "exchanges", "bindings"]:
            assert sorted(map(json.dumps, after[key])) == sorted(map(json.dumps, before[key])), key
        mine = [q for q in after["queues"] if q["vhost"] == vhost]
        assert mine == [{"name": "q1", "vhost": vhost, "durable": True, "auto_delete": False, "arguments": {"x-max-length": 5}}]
        # The user's password hash came back with it: the user logs in.
        connection = pika.BlockingConnection(pika.ConnectionParameters(
            host=HOST, port=node.amqp_port, virtual_host=vhost, credentials=pika.PlainCredentials(user, "pw")))
        connection.close()
    finally:
        api(node, "DELETE", f"/api/vhosts/{vhost}")
        api(node, "DELETE", f"/api/users/{user}")


def publish(node, vhost, queue, *bodies, properties=None):
    """Publishes `bodies` to `queue` by the default exchange with pika, confirmed."""
    connection = pika.BlockingConnection(pika.ConnectionParameters(host=HOST, port=node.amqp_port, virtual_host=vhost))
    channel = connection.channel()
    channel.confirm_delivery()
    for body in bodies:
        channel.basic_publish("", queue, body, properties or pika.BasicProperties())
    connection.close()


def got(node, vhost, queue, ackmode, count=1, encoding="auto"):
    """rabbitmqadmin's get (its raw_json format): the messages the API answered."""
    return json.loads(admin(node, "-V", vhost, "-f", "raw_json", "get", f"queue={queue}", f"ackmode={ackmode}",
                            f"count={count}", f"encoding={encoding}"))


def answered(status, what, request):
    """`request()`'s (status, body) once its status is `status`: a user just made reaches a
    follower's replica a moment later."""
    def probe():
        answer = request()
        return answer if answer[0] == status else None
    return eventually(what, probe)


def test_rabbitmqadmin_get_shows_messages_and_settles_them_by_ackmode(managed_node):
    cluster, node = managed_node
    vhost = short_name("vhost")
    admin(node, "declare", "vhost", f"name={vhost}")
    try:
        admin(node, "-V", vhost, "declare", "queue", "name=q", "durable=true")
        properties = pika.BasicProperties(content_type="text/plain", delivery_mode=2, headers={"n": 7, "s": "x"},
                                          message_id="m1", timestamp=1700000000)
        publish(node, vhost, "q", "héllo".encode(), properties=properties)

        first = got(node, vhost, "q", "ack_requeue_true")
        assert first == [{"payload_bytes": 6, "redelivered": False, "exchange": "", "routing_key": "q", "message_count": 0,
                          "properties": {"content_type": "text/plain", "delivery_mode": 2, "headers": {"n": 7, "s": "x"},
                                         "message_id": "m1", "timestamp": 1700000000},
                          "payload": "héllo", "payload_encoding": "string"}]
        again = got(node, vhost, "q", "reject_requeue_true")
        assert [(m["payload"], m["redelivered"]) for m in again] == [("héllo", True)], "ack_requeue_true put it back"
        assert [(m["payload"], m["redelivered"]) for m in got(node, vhost, "q", "ack_requeue_false")] == [("héllo", True)], \
            "reject_requeue_true put it back"
        assert got(node, vhost, "q", "ack_requeue_true") == [], "ack_requeue_false took it away"

        publish(node, vhost, "q", b"\xff\x00 not text")
        binary = got(node, vhost, "q", "reject_requeue_false")
        assert [(m["payload"], m["payload_encoding"], m["payload_bytes"], m["properties"]) for m in binary] == \
            [(base64.b64encode(b"\xff\x00 not text").decode(), "base64", 11, [])], "a body that is not UTF-8 comes as base64"
        assert got(node, vhost, "q", "ack_requeue_true") == [], "reject_requeue_false took it away"

        publish(node, vhost, "q", b"one", b"two", b"three")
        as_base64 = got(node, vhost, "q", "ack_requeue_true", count=2, encoding="base64")
        assert [(m["payload"], m["payload_encoding"]) for m in as_base64] == [("b25l", "base64"), ("dHdv", "base64")]
        drained = got(node, vhost, "q", "ack_requeue_false", count=10)
        assert sorted(m["payload"] for m in drained) == ["one", "three", "two"]
        assert [m["message_count"] for m in drained] == [2, 1, 0], "what the queue still held after each"

        publish(node, vhost, "q", b"hello world")
        status, cut = api(node, "POST", f"/api/queues/{vhost}/q/get",
                          {"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto", "truncate": 5})
        assert status == 200 and [(m["payload"], m["payload_bytes"]) for m in cut] == [("hello", 11)]
    finally:
        api(node, "DELETE", f"/api/vhosts/{vhost}")


def test_get_refuses_a_bad_body_an_unknown_queue_and_a_user_without_read(managed_node):
    cluster, node = managed_node
    vhost, user = short_name("vhost"), short_name("user")
    admin(node, "declare", "vhost", f"name={vhost}")
    try:
        admin(node, "-V", vhost, "declare", "queue", "name=q")
        publish(node, vhost, "q", b"kept")
        get = {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"}
        assert api(node, "POST", f"/api/queues/{vhost}/q/get", {**get, "ackmode": "ack_maybe"})[0] == 400
        assert api(node, "POST", f"/api/queues/{vhost}/q/get", {**get, "encoding": "hex"})[0] == 400
        assert api(node, "POST", f"/api/queues/{vhost}/q/get", {**get, "count": 1_000_000})[0] == 400
        assert api(node, "POST", f"/api/queues/{vhost}/q/get", {"count": 1})[0] == 400

        missing = run_admin(node, "-V", vhost, "get", "queue=nothing", "ackmode=ack_requeue_true")
        assert missing.returncode != 0 and "Not found" in missing.stdout + missing.stderr
        assert api(node, "POST", f"/api/queues/{vhost}/nothing/get", get)[0] == 404
        assert api(node, "POST", "/api/queues/no-such-vhost/q/get", get)[0] == 404

        admin(node, "declare", "user", f"name={user}", "password=pw", "tags=management")
        admin(node, "declare", "permission", f"vhost={vhost}", f"user={user}", "configure=.*", "write=.*", "read=^$")
        refused = answered(403, f"{user} to be refused the read",
                           lambda: api(node, "POST", f"/api/queues/{vhost}/q/get", get, user=user, password="pw"))
        assert refused[1]["error"] == "not_authorised" and "ACCESS_REFUSED" in refused[1]["reason"]
        by_admin = run_admin(node, "-V", vhost, "get", "queue=q", user=user, password="pw")
        assert by_admin.returncode != 0 and "403" in by_admin.stdout + by_admin.stderr
        assert [m["payload"] for m in got(node, vhost, "q", "ack_requeue_false")] == ["kept"], "the refused gets took nothing"
    finally:
        api(node, "DELETE", f"/api/users/{user}")
        api(node, "DELETE", f"/api/vhosts/{vhost}")


def test_aliveness_test_declares_publishes_and_gets_back(managed_node):
    cluster, node = managed_node
    vhost, user = short_name("vhost"), short_name("user")
    admin(node, "declare", "vhost", f"name={vhost}")
    try:
        assert api(node, "GET", f"/api/aliveness-test/{vhost}") == (200, {"status": "ok"})
        assert api(node, "GET", f"/api/aliveness-test/{vhost}") == (200, {"status": "ok"}), "and again, on the queue it left"
        status, queue = api(node, "GET", f"/api/queues/{vhost}/aliveness-test")
        assert status == 200 and (queue["durable"], queue["messages"]) == (False, 0)
        assert api(node, "GET", "/api/aliveness-test/no-such-vhost")[0] == 404

        admin(node, "declare", "user", f"name={user}", "password=pw", "tags=management")
        admin(node, "declare", "permission", f"vhost={vhost}", f"user={user}", "configure=^$", "write=.*", "read=.*")
        refused = answered(403, f"{user} to be refused the declaration",
                           lambda: api(node, "GET", f"/api/aliveness-test/{vhost}", user=user, password="pw"))
        assert "ACCESS_REFUSED" in refused[1]["reason"]
    finally:
        api(node, "DELETE", f"/api/users/{user}")
        api(node, "DELETE", f"/api/vhosts/{vhost}")
