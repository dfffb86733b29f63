"""A local three-node Berth cluster for the client scenario tests: started from a `berth`
binary on free loopback ports with a fresh data directory, observed through each node's
HTTP status API, and faulted by killing and restarting its own nodes (by PID; it never
touches a process it did not start).

    cluster = LocalCluster("/path/to/berth")
    cluster.start()                 # returns once a leader serves
    cluster.leader().amqp_port      # the node that leads now
    cluster.kill(cluster.leader())  # SIGKILL; cluster.restart(node) brings it back
    cluster.stop()
"""

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

HOST = "127.0.0.1"
# Every HTTP route needs a user; guest may ask from loopback.
GUEST_BASIC_AUTH = "Basic " + base64.b64encode(b"guest:guest").decode()


def free_port():
    """A port free for TCP and UDP on loopback (a peer port carries both: links and gossip)."""
    while True:
        with socket.socket() as tcp:
            tcp.bind((HOST, 0))
            port = tcp.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind((HOST, port))
            except OSError:
                continue
        return port


class Node:
    def __init__(self, node_id, directory):
        self.id = node_id
        self.amqp_port = free_port()
        self.tls_port = free_port()
        self.http_port = free_port()
        self.https_port = free_port()
        self.prometheus_port = free_port()
        self.peer_port = free_port()
        self.data_dir = os.path.join(directory, f"node-{node_id}")
        self.log_path = os.path.join(directory, f"node-{node_id}.log")
        self.process = None

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def status(self, timeout=1.0):
        """This node's `GET /api/berth/node`, or None if it does not answer."""
        try:
            request = urllib.request.Request(f"http://{HOST}:{self.http_port}/api/berth/node", headers={"Authorization": GUEST_BASIC_AUTH})
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return json.load(reply)
        except (OSError, ValueError):
            return None

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, "rb") as log:
                return b"".join(log.readlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def __repr__(self):
        return f"node {self.id} (amqp {self.amqp_port})"


class ClusterError(Exception):
    pass


class LocalCluster:
    def __init__(self, berth, size=3, election_timeout_ms=300):
        self.berth = berth
        self.directory = tempfile.mkdtemp(prefix="berth-compat-cluster.")
        self.secret_file = os.path.join(self.directory, "cluster-secret")
        # Each node also serves amqps, with certificates of a throwaway authority; a
        # client's certificate is checked when it presents one (RabbitMQ's verify_peer).
        self.tls_directory = os.path.join(self.directory, "tls")
        self.election_timeout_ms = election_timeout_ms
        self.nodes = [Node(i, self.directory) for i in range(1, size + 1)]

    # --- lifecycle -----------------------------------------------------------------------

    def start(self, timeout=60):
        fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as secret:
            secret.write(secrets.token_hex(32))
        make_certificates = os.path.join(os.path.dirname(__file__), "..", "..", "Cluster", "make-tls-certificates")
        subprocess.run([make_certificates, self.tls_directory], check=True)
        for node in self.nodes:
            self._spawn(node)
        self.wait_for_leader(timeout)
        self.wait_caught_up(timeout)

    def _spawn(self, node):
        os.makedirs(node.data_dir, exist_ok=True)
        peers = [f"--peer={n.id}={HOST}:{n.peer_port}" for n in self.nodes]
        command = [self.berth, "node", "--data-dir", node.data_dir, "--node-id", str(node.id),
                   "--amqp-host", HOST, "--amqp-port", str(node.amqp_port),
                   "--http-host", HOST, "--http-port", str(node.http_port),
                   "--cluster-secret-file", self.secret_file,
                   "--tls-port", str(node.tls_port), "--tls-certificate", self.tls_file("server.pem"),
                   "--tls-key", self.tls_file("server.key"), "--tls-ca", self.tls_file("ca.pem"), "--tls-verify-peer",
                   "--https-port", str(node.https_port), "--prometheus-port", str(node.prometheus_port),
                   "--election-timeout-ms", str(self.election_timeout_ms), *peers]
        log = open(node.log_path, "ab")
        node.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def tls_file(self, name):
        """A file of the cluster's certificates: ca.pem, server.*, client.*, stranger.*."""
        return os.path.join(self.tls_directory, name)

    def stop(self):
        """Stops every node it started (SIGTERM, then SIGKILL past 10 s) and removes the data."""
        for node in self.nodes:
            if node.running:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def kill(self, node):
        """SIGKILL, and waits until the process is gone (its ports are free again)."""
        if node.running:
            node.process.kill()
            node.process.wait(timeout=10)

    def restart(self, node, timeout=30):
        """Starts a killed node again on its data directory; returns once it answers."""
        if node.running:
            raise ClusterError(f"{node} is still running")
        self._spawn(node)
        self._wait(lambda: node.status() is not None, timeout, f"{node} answering after its restart", node)

    # --- observation ---------------------------------------------------------------------

    def leader(self):
        """The node that leads and serves, as the running nodes agree; None if none does."""
        statuses = {node.id: node.status() for node in self.nodes if node.running}
        for node in self.nodes:
            status = statuses.get(node.id)
            if status and status["role"] == "leader" and status["serving"]:
                others = [s for s in statuses.values() if s and s["term"] > status["term"]]
                if not others:
                    return node
        return None

    def followers(self):
        leader = self.leader()
        return [node for node in self.nodes if node.running and node is not leader]

    def in_role(self, role):
        """The serving leader ("leader") or a running node that follows it ("follower")."""
        leader = self.leader() or self.wait_for_leader()
        return leader if role == "leader" else next(n for n in self.nodes if n.running and n is not leader)

    def wait_for_leader(self, timeout=30, other_than=None):
        """The serving leader, once there is one (and it is not `other_than`)."""
        found = []

        def elected():
            leader = self.leader()
            if leader is not None and leader is not other_than:
                found.append(leader)
                return True
            return False

        self._wait(elected, timeout, "a serving leader" + (f" other than {other_than}" if other_than else ""))
        return found[-1]

    def wait_caught_up(self, timeout=30):
        """Until every running node has applied what the leader committed."""
        def caught_up():
            leader = self.leader()
            if leader is None:
                return False
            commit = leader.status()["commitIndex"]
            running = [node.status() for node in self.nodes if node.running]
            return all(s is not None and s["appliedIndex"] >= commit for s in running)

        self._wait(caught_up, timeout, "every node applying the leader's commit index")

    def _wait(self, condition, timeout, what, node=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            for each in [node] if node else self.nodes:
                if each.process is not None and not each.running and each.process.returncode not in (None, -9):
                    raise ClusterError(f"{each} exited with status {each.process.returncode}:\n{each.log_tail()}")
            time.sleep(0.05)
        tails = "\n".join(f"--- {n}\n{n.log_tail(8)}" for n in self.nodes)
        raise ClusterError(f"no {what} within {timeout} s\n{tails}")
