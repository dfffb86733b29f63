"""Users, vhosts and permissions as RabbitMQ's tools manage them: rabbitmqadmin (Debian's
rabbitmq-server ships it) against the management routes of the leader and of a follower,
then pika logging in through every node, refused where RabbitMQ refuses (530 at
connection.open for a vhost without permission, 403 closing only the channel for a
method the permissions do not cover)."""

import base64
import json
import shutil
import subprocess
import time
import urllib.request
import uuid

import pika
import pytest

from berth_cluster import HOST


@pytest.fixture(params=["leader", "follower"])
def managed_node(request):
    if request.config.getoption("--broker"):
        pytest.skip("the management tests need the local cluster's HTTP ports")
    cluster = request.getfixturevalue("local_cluster")
    return cluster, cluster.in_role(request.param)


def short_name(kind):
    """A user or vhost name of its own, short enough that RabbitMQ's texts naming it fit a
    reply-text (a short string: 255 bytes)."""
    return f"{kind}.{uuid.uuid4().hex[:8]}"


def run_admin(node, *arguments, user="guest", password="guest"):
    """rabbitmqadmin as `user` against `node`'s HTTP API, succeeding or not."""
    tool = shutil.which("rabbitmqadmin")
    if tool is None:
        pytest.skip("rabbitmqadmin is not installed (Debian's rabbitmq-server package)")
    return subprocess.run([tool, "-H", HOST, "-P", str(node.http_port), "-u", user, "-p", password, *arguments],
                          capture_output=True, text=True, timeout=30)


def admin(node, *arguments):
    """rabbitmqadmin as guest against `node`'s HTTP API; its output."""
    done = run_admin(node, *arguments)
    assert done.returncode == 0, f"rabbitmqadmin {' '.join(arguments)}: {done.stdout}{done.stderr}"
    return done.stdout


def api(node, method, path, body=None, user="guest", password="guest"):
    """One management API request: (status, decoded JSON or None)."""
    request = urllib.request.Request(f"http://{HOST}:{node.http_port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode(),
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            text = reply.read()
            return reply.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, json.loads(text) if text else None


def connect(node, user, password, vhost="/"):
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=HOST, port=node.amqp_port, virtual_host=vhost, credentials=pika.PlainCredentials(user, password),
        connection_attempts=1))


def eventually(what, probe, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
            if value:
                return value
        except Exception as error:  # the probe's own failure is retried until the deadline
            last = error
        else:
            last = None
        assert time.monotonic() < deadline, f"timed out waiting for {what}" + (f": {last!r}" if last else "")
        time.sleep(0.05)


def test_rabbitmqadmin_adds_a_user_who_logs_in_through_every_node(managed_node, names):
    cluster, node = managed_node
    user, vhost = short_name("user"), short_name("vhost")
    admin(node, "declare", "vhost", f"name={vhost}")
    admin(node, "declare", "user", f"name={user}", "password=s3cret", "tags=monitoring")
    admin(node, "declare", "permission", f"vhost={vhost}", f"user={user}", "configure=.*", "write=.*", "read=.*")
    assert user in admin(node, "list", "users")
    assert vhost in admin(node, "list", "vhosts")
    assert user in admin(node, "list", "permissions")

    for each in (n for n in cluster.nodes if n.running):
        connection = eventually(f"{user} to log in through node {each.id}", lambda: connect(each, user, "s3cret", vhost))
        channel = connection.channel()
        queue = names("q")
        channel.queue_declare(queue, durable=True)
        channel.queue_delete(queue)
        connection.close()

    status, whoami = api(node, "GET", "/api/whoami", user=user, password="s3cret")
    assert (status, whoami) == (200, {"name": user, "tags": ["monitoring"]})
    assert api(node, "GET", "/api/users", user=user, password="s3cret")[0] == 401, "only an administrator lists users"

    admin(node, "delete", "user", f"name={user}")
    admin(node, "delete", "vhost", f"name={vhost}")
    for each in (n for n in cluster.nodes if n.running):
        def refused():
            try:
                connect(each, user, "s3cret", vhost).close()
                return False
            except pika.exceptions.AMQPConnectionError:
                return True
        eventually(f"{user} to be refused through node {each.id}", refused)


def test_a_method_the_permissions_do_not_cover_closes_only_its_channel(managed_node, names):
    cluster, node = managed_node
    user, queue = short_name("user"), names("q")
    setup = connect(node, "guest", "guest")
    setup.channel().queue_declare(queue, durable=True)
    assert api(node, "PUT", f"/api/users/{user}", {"password": "pw", "tags": ""})[0] == 201
    assert api(node, "PUT", f"/api/permissions/%2F/{user}", {"configure": "", "write": "", "read": f"^{queue}$"})[0] == 201

    connection = eventually(f"{user} to log in", lambda: connect(node, user, "pw"))
    try:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.queue_declare(short_name("other"), durable=True)
        assert refused.value.reply_code == 403
        assert refused.value.reply_text.startswith("ACCESS_REFUSED - access to queue ")
        assert refused.value.reply_text.endswith(f" in vhost '/' refused for user '{user}'")

        reading = connection.channel()
        method, _, _ = reading.basic_get(queue, auto_ack=True)
        assert method is None, "reading the queue it may read still works, on the same connection"
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as publishing:
            reading.confirm_delivery()
            reading.basic_publish("", queue, b"not allowed")
        assert publishing.value.reply_code == 403
        assert "exchange 'amq.default'" in publishing.value.reply_text
    finally:
        if connection.is_open:
            connection.close()
        setup.channel().queue_delete(queue)
        setup.close()
        api(node, "DELETE", f"/api/users/{user}")


def test_a_vhost_without_permission_is_refused_at_open(managed_node, names):
    cluster, node = managed_node
    user = short_name("user")
    assert api(node, "PUT", f"/api/users/{user}", {"password": "pw", "tags": ""})[0] == 201
    try:
        def refused_with_530():
            try:
                connect(node, user, "pw").close()
                return None
            except pika.exceptions.ProbableAuthenticationError:
                return None  # the user is not on this node's replica yet
            except pika.exceptions.ProbableAccessDeniedError as error:
                # pika's name for a close at connection.open; the broker's close is its text.
                return str(error)
        refusal = eventually("connection.open to be refused", refused_with_530)
        assert "(530) \"NOT_ALLOWED - access to vhost '/' refused for user '" + user + "'\"" in refusal
    finally:
        api(node, "DELETE", f"/api/users/{user}")


def test_limits_refuse_one_more_queue_channel_and_connection(managed_node, names):
    """RabbitMQ's vhost and user limits through its routes: max-queues refuses the next queue
    (406, closing the channel), max-channels the next channel and max-connections the next
    connection (530, closing the connection), through the leader and a follower alike (a
    follower answers connection.open once the leader took the session it opens for it)."""
    cluster, node = managed_node
    user, vhost = short_name("user"), short_name("vhost")
    assert api(node, "PUT", f"/api/vhosts/{vhost}")[0] == 201
    assert api(node, "PUT", f"/api/users/{user}", {"password": "pw", "tags": ""})[0] == 201
    assert api(node, "PUT", f"/api/permissions/{vhost}/{user}", {"configure": ".*", "write": ".*", "read": ".*"})[0] == 201
    assert api(node, "PUT", f"/api/vhost-limits/{vhost}/max-queues", {"value": 1})[0] == 204
    assert api(node, "PUT", f"/api/user-limits/{user}/max-channels", {"value": 2})[0] == 204
    assert api(node, "PUT", f"/api/user-limits/{user}/max-connections", {"value": 1})[0] == 204
    assert api(node, "GET", f"/api/vhost-limits/{vhost}") == (200, [{"vhost": vhost, "value": {"max-queues": 1}}])
    assert api(node, "GET", f"/api/user-limits/{user}") == (200, [{"user": user, "value": {"max-channels": 2, "max-connections": 1}}])
    try:
        connection = eventually(f"{user} to log in", lambda: connect(node, user, "pw", vhost))
        channel = connection.channel()
        channel.queue_declare(names("one"), durable=True)
        second_queue = names("two")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as queue_refused:
            channel.queue_declare(second_queue, durable=True)
        assert (queue_refused.value.reply_code, queue_refused.value.reply_text) == (
            406, f"PRECONDITION_FAILED - cannot declare queue '{second_queue}': queue limit in vhost '{vhost}' (1) is reached")

        with pytest.raises(pika.exceptions.AMQPConnectionError) as connection_refused:
            connect(node, user, "pw", vhost)
        assert f"Connection refused for user '{user}'. User connection limit (1) is reached" in str(connection_refused.value)

        connection.channel()
        connection.channel()
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as channel_refused:
            connection.channel()
        assert (channel_refused.value.reply_code, channel_refused.value.reply_text) == (
            530, f"NOT_ALLOWED - number of channels opened for user '{user}' has reached the maximum allowed user limit of (2)")
    finally:
        api(node, "DELETE", f"/api/users/{user}")
        api(node, "DELETE", f"/api/vhosts/{vhost}")
    assert api(node, "GET", f"/api/user-limits/{user}") == (200, []), "a deleted user's limits go with it"


def test_every_http_route_needs_a_management_user(managed_node):
    cluster, node = managed_node
    for path in ["/api/berth/node", "/api/berth/queues", "/api/berth/health", "/api/overview", "/api/nodes", "/api/queues", "/api/exchanges", "/api/bindings", "/api/users", "/api/vhosts", "/api/permissions", "/api/whoami"]:
        request = urllib.request.Request(f"http://{HOST}:{node.http_port}{path}")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401, path
        assert refused.value.headers.get("WWW-Authenticate", "").startswith("Basic"), path
    assert api(node, "GET", "/api/whoami")[1] == {"name": "guest", "tags": ["administrator"]}


def test_berth_commands_manage_users_vhosts_and_permissions(managed_node, tmp_path):
    cluster, node = managed_node
    user, vhost = short_name("user"), short_name("vhost")
    password_file = tmp_path / "password"
    password_file.write_text("from-a-file\n")
    password_file.chmod(0o600)

    def berth(*arguments):
        done = subprocess.run([cluster.berth, *arguments, "--http", f"{HOST}:{node.http_port}"],
                              capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"berth {' '.join(arguments)}: {done.stdout}{done.stderr}"
        return done.stdout

    berth("vhosts", "add", vhost)
    berth("users", "add", user, "--new-password-file", str(password_file), "--tags", "monitoring")
    berth("permissions", "set", vhost, user, "--configure", ".*", "--write", ".*", "--read", ".*")
    assert user in berth("users") and "monitoring" in berth("users")
    assert vhost in berth("vhosts", "list")
    assert any(line.split()[:2] == [vhost, user] for line in berth("permissions").splitlines())
    connection = eventually(f"{user} to log in", lambda: connect(node, user, "from-a-file", vhost))
    connection.close()

    refused = subprocess.run([cluster.berth, "users", "add", user, "--http", f"{HOST}:{node.http_port}"],
                             capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert refused.returncode != 0 and "--new-password-file" in refused.stderr, "no terminal to prompt on, no password"
    berth("permissions", "clear", vhost, user)
    berth("users", "delete", user)
    berth("vhosts", "delete", vhost)
    assert user not in berth("users")
