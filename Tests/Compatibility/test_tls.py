"""AMQP over TLS (amqps) with pika's and aio-pika's own TLS options, through the leader and
a follower: the server's certificate checked against the cluster's authority, a client
certificate signed by it taken, and one it did not sign refused (the nodes run with
--tls-verify-peer: a certificate presented must chain to the authority; none is also
fine, as with RabbitMQ's verify_peer without fail_if_no_peer_cert). And the HTTP API over
TLS (--https-port), through urllib and rabbitmqadmin --ssl."""

import asyncio
import base64
import json
import shutil
import socket
import ssl
import subprocess
import urllib.request
import uuid

import aio_pika
import pika
import pytest

from berth_cluster import HOST


@pytest.fixture(params=["leader", "follower"])
def tls_node(request):
    if request.config.getoption("--broker"):
        pytest.skip("the TLS tests need the local cluster's certificates")
    cluster = request.getfixturevalue("local_cluster")
    return cluster, cluster.in_role(request.param)


def client_context(cluster, certificate=None):
    """Trusts the cluster's authority and checks the server's name; presents `certificate`."""
    context = ssl.create_default_context(cafile=cluster.tls_file("ca.pem"))
    if certificate:
        context.load_cert_chain(cluster.tls_file(f"{certificate}.pem"), cluster.tls_file(f"{certificate}.key"))
    return context


def pika_parameters(cluster, node, certificate=None):
    return pika.ConnectionParameters(
        host=HOST, port=node.tls_port, credentials=pika.PlainCredentials("guest", "guest"),
        ssl_options=pika.SSLOptions(client_context(cluster, certificate), HOST), connection_attempts=1)


@pytest.mark.parametrize("certificate", [None, "client"])
def test_pika_publishes_and_gets_over_tls(tls_node, names, certificate):
    cluster, node = tls_node
    connection = pika.BlockingConnection(pika_parameters(cluster, node, certificate))
    try:
        channel = connection.channel()
        queue = names()
        channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
        channel.confirm_delivery()
        for n in range(20):
            channel.basic_publish("", queue, f"secret {n}".encode(), pika.BasicProperties(delivery_mode=2))
        got = []
        for _ in range(20):
            method, _, body = channel.basic_get(queue, auto_ack=True)
            got.append(body.decode())
        assert got == [f"secret {n}" for n in range(20)]
        channel.queue_delete(queue)
    finally:
        connection.close()


def test_pika_client_certificate_from_another_authority_is_refused(tls_node):
    cluster, node = tls_node
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(pika_parameters(cluster, node, "stranger"))


def test_pika_refuses_a_server_its_authority_did_not_sign(tls_node):
    cluster, node = tls_node
    context = ssl.create_default_context(cafile=cluster.tls_file("stranger.pem"))
    parameters = pika.ConnectionParameters(host=HOST, port=node.tls_port, ssl_options=pika.SSLOptions(context, HOST),
                                           connection_attempts=1)
    with pytest.raises(ssl.SSLCertVerificationError):
        pika.BlockingConnection(parameters)


def test_aio_pika_consumes_over_tls_with_a_client_certificate(tls_node, names):
    cluster, node = tls_node

    async def run():
        connection = await aio_pika.connect(f"amqps://guest:guest@{HOST}:{node.tls_port}/",
                                            ssl_context=client_context(cluster, "client"))
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            queue = await channel.declare_queue(names(), durable=True, arguments={"x-queue-type": "quorum"})
            for n in range(10):
                await channel.default_exchange.publish(aio_pika.Message(f"tls {n}".encode(), delivery_mode=2),
                                                       routing_key=queue.name)
            await channel.set_qos(prefetch_count=10)
            got = []
            async with queue.iterator() as messages:
                async for message in messages:
                    async with message.process():
                        got.append(message.body.decode())
                    if len(got) == 10:
                        break
            assert got == [f"tls {n}" for n in range(10)]
            await queue.delete()

    asyncio.run(asyncio.wait_for(run(), 30))


def https(cluster, node, method, path, body=None, context=None):
    """One request to `node`'s HTTPS port as guest: (status, decoded JSON or None)."""
    request = urllib.request.Request(f"https://{HOST}:{node.https_port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode(),
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context or client_context(cluster)) as reply:
            text = reply.read()
            return reply.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, json.loads(text) if text else None


def test_the_http_api_answers_over_tls_and_takes_changes(tls_node):
    cluster, node = tls_node
    assert https(cluster, node, "GET", "/api/whoami") == (200, {"name": "guest", "tags": ["administrator"]})
    user = f"https.{uuid.uuid4().hex[:8]}"
    status, _ = https(cluster, node, "PUT", f"/api/users/{user}", {"password": "secret", "tags": "monitoring"})
    assert status == 201
    status, found = https(cluster, node, "GET", f"/api/users/{user}")
    assert status == 200 and found["name"] == user and found["tags"] == ["monitoring"]
    assert https(cluster, node, "DELETE", f"/api/users/{user}")[0] == 204


def test_the_https_port_presents_the_configured_certificate(tls_node):
    cluster, node = tls_node
    with pytest.raises(urllib.error.URLError) as refused:
        https(cluster, node, "GET", "/api/whoami", context=ssl.create_default_context(cafile=cluster.tls_file("stranger.pem")))
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


def test_plain_http_to_the_https_port_gets_no_http_answer(tls_node):
    _, node = tls_node
    with socket.create_connection((HOST, node.https_port), timeout=10) as plain:
        plain.sendall(b"GET /api/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while chunk := plain.recv(4096):
            answer += chunk
    assert not answer.startswith(b"HTTP/"), answer[:40]


def test_rabbitmqadmin_lists_users_over_tls(tls_node):
    cluster, node = tls_node
    tool = shutil.which("rabbitmqadmin")
    if tool is None:
        pytest.skip("rabbitmqadmin is not installed (Debian's rabbitmq-server package)")
    done = subprocess.run([tool, "-H", HOST, "-P", str(node.https_port), "--ssl", "--ssl-ca-cert-file", cluster.tls_file("ca.pem"),
                           "-u", "guest", "-p", "guest", "-f", "raw_json", "list", "users"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "guest" in [user["name"] for user in json.loads(done.stdout)]
