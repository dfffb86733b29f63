"""berth's rabbitmqctl-named commands (list_queues, export_definitions, import_definitions,
purge_queue, delete_queue, cluster_status, and the access commands) against the leader and a follower of the local
cluster: their output parsed and checked against what the cluster holds."""

import json
import subprocess

import pika
import pytest

from berth_cluster import HOST
from test_access import eventually, managed_node, short_name  # noqa: F401 (managed_node: a fixture, the leader then a follower)


def run_berth(cluster, node, *arguments):
    return subprocess.run([cluster.berth, *arguments, "--http", f"{HOST}:{node.http_port}"],
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def berth(cluster, node, *arguments):
    done = run_berth(cluster, node, *arguments)
    assert done.returncode == 0, f"berth {' '.join(arguments)}: {done.stdout}{done.stderr}"
    return done.stdout


def queue_messages(cluster, node):
    """{queue name: messages} as `berth list_queues name messages --format json` prints it."""
    rows = json.loads(berth(cluster, node, "list_queues", "name", "messages", "--format", "json"))
    assert all(list(row) == ["name", "messages"] for row in rows), rows
    return {row["name"]: row["messages"] for row in rows}


def declare_with_messages(node, queue, count):
    connection = pika.BlockingConnection(pika.ConnectionParameters(host=HOST, port=node.amqp_port, connection_attempts=1))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(queue, durable=True)
        for number in range(count):
            channel.basic_publish("", queue, f"message {number}".encode())
    finally:
        connection.close()


@pytest.mark.seconds(120)
def test_list_purge_delete_and_definitions(managed_node, names, tmp_path):
    cluster, node = managed_node
    queue, restored = names("q"), names("restored")
    declare_with_messages(node, queue, 3)
    declare_with_messages(node, restored, 0)
    eventually("list_queues to count the 3 messages", lambda: queue_messages(cluster, node).get(queue) == 3)

    unknown = run_berth(cluster, node, "list_queues", "name", "colour")
    assert unknown.returncode != 0
    assert "colour" in unknown.stderr and "messages_ready" in unknown.stderr, unknown.stderr

    exported = json.loads(berth(cluster, node, "export_definitions", "-"))
    assert {"name": queue, "vhost": "/"}.items() <= next(q for q in exported["queues"] if q["name"] == queue).items()

    refused = run_berth(cluster, node, "delete_queue", queue, "--if-empty")
    assert refused.returncode != 0, "a queue holding messages stays with --if-empty"
    assert queue_messages(cluster, node).get(queue) == 3

    berth(cluster, node, "purge_queue", queue)
    eventually("the purge to show", lambda: queue_messages(cluster, node).get(queue) == 0)
    berth(cluster, node, "delete_queue", queue, "--if-empty", "--if-unused")
    eventually("the deletion to show", lambda: queue not in queue_messages(cluster, node))

    # A file written by export_definitions brings a deleted queue back.
    definitions = tmp_path / "definitions.json"
    berth(cluster, node, "export_definitions", str(definitions))
    assert restored in {q["name"] for q in json.loads(definitions.read_text())["queues"]}
    berth(cluster, node, "delete_queue", restored)
    eventually("the deletion to show", lambda: restored not in queue_messages(cluster, node))
    berth(cluster, node, "import_definitions", str(definitions))
    eventually("the import to show", lambda: restored in queue_messages(cluster, node))
    berth(cluster, node, "delete_queue", restored)


def test_cluster_status_names_the_members_the_leader_and_the_term(managed_node):
    cluster, node = managed_node
    leader = cluster.wait_for_leader()
    status = json.loads(berth(cluster, node, "cluster_status", "--format", "json"))
    assert sorted(member["name"] for member in status["members"]) == sorted(f"berth@{n.id}" for n in cluster.nodes)
    assert all(member["running"] for member in status["members"]), status
    assert [m["name"] for m in status["members"] if m["role"] == "leader"] == [f"berth@{leader.id}"]
    assert status["leader"] == f"berth@{leader.id}"
    assert status["term"] == leader.status()["term"]

    table = berth(cluster, node, "cluster_status").splitlines()
    assert table[0] == f"Leader: berth@{leader.id}, term {status['term']}"
    assert table[1].split() == ["name", "running", "role"]
    assert sorted(line.split()[0] for line in table[2:]) == sorted(f"berth@{n.id}" for n in cluster.nodes)


def test_access_commands_by_rabbitmqctls_names(managed_node, tmp_path):
    cluster, node = managed_node
    user, vhost = short_name("user"), short_name("vhost")
    password_file = tmp_path / "password"
    password_file.write_text("from-a-file")
    password_file.chmod(0o600)
    berth(cluster, node, "add_vhost", vhost)
    berth(cluster, node, "add_user", user, "--new-password-file", str(password_file))
    berth(cluster, node, "set_permissions", "-p", vhost, user, "^c", "^w", "^r")
    # guest, who made the vhost, has every permission on it too, as in RabbitMQ.
    permissions = json.loads(berth(cluster, node, "list_permissions", "-p", vhost, "--format", "json"))
    assert {"user": user, "configure": "^c", "write": "^w", "read": "^r"} in permissions, permissions
    assert {"user": user, "tags": []} in json.loads(berth(cluster, node, "list_users", "--format", "json"))
    assert vhost in berth(cluster, node, "list_vhosts").split()
    berth(cluster, node, "delete_user", user)
    berth(cluster, node, "delete_vhost", vhost)
    assert user not in berth(cluster, node, "list_users")
    assert vhost not in berth(cluster, node, "list_vhosts")


@pytest.mark.seconds(60)
def test_list_connections_channels_consumers_and_close_one(managed_node, names):
    cluster, node = managed_node
    queue, connection_name = names("consumed"), names("listed")
    connection = pika.BlockingConnection(pika.ConnectionParameters(
        host=HOST, port=node.amqp_port, connection_attempts=1, client_properties={"connection_name": connection_name}))
    try:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True)
        channel.basic_qos(prefetch_count=7)
        channel.basic_consume(queue, lambda *_: None, consumer_tag="ctl-consumer")
        def ours():
            rows = json.loads(berth(cluster, node, "list_connections", "name", "node", "user", "peer_port", "channels",
                                    "client_properties", "--format", "json"))
            return [row for row in rows if row["client_properties"].get("connection_name") == connection_name]

        eventually("list_connections to show the connection with its channel", lambda: [r["channels"] for r in ours()] == [1])
        mine = ours()[0]
        assert mine["user"] == "guest"
        assert mine["node"].startswith("berth@")
        assert mine["name"].endswith(f"-> {HOST}:{node.amqp_port}"), "the node the client reached, by its AMQP address"
        assert not any(key.startswith("x-forwarded") for key in mine["client_properties"])

        channels = json.loads(berth(cluster, node, "list_channels", "connection", "consumer_count", "prefetch_count", "--format", "json"))
        assert [{"consumer_count": 1, "prefetch_count": 7}] == [
            {k: row[k] for k in ("consumer_count", "prefetch_count")} for row in channels if row["connection"] == mine["name"]]

        consumers = json.loads(berth(cluster, node, "list_consumers", "queue_name", "consumer_tag", "ack_required", "prefetch_count",
                                     "--format", "json"))
        assert {"queue_name": queue, "consumer_tag": "ctl-consumer", "ack_required": True, "prefetch_count": 7} in consumers

        berth(cluster, node, "close_connection", mine["name"], "closed by the ctl test")
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
            connection.process_data_events(time_limit=10)
            connection.process_data_events(time_limit=10)
        assert closed.value.reply_code == 320
        assert "closed by the ctl test" in closed.value.reply_text
        eventually("the closed connection to leave the list", lambda: ours() == [])
    finally:
        if connection.is_open:
            connection.close()
