"""Queues, exchanges, bindings and definitions as RabbitMQ's tools manage them: rabbitmqadmin
(Debian's rabbitmq-server ships it) against the management routes of the leader and of a
follower; messages published with pika show in its counts."""

import json

import pika

from berth_cluster import HOST
from test_access import admin, api, managed_node, short_name  # noqa: F401 (managed_node is a fixture)


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
