"""The dashboard every node serves at `/`, in headless Chromium: the page loads without
credentials, shows the cluster's three members with their roles and a queue with the
messages pika published to it, and makes no request to another origin nor logs an error.
Chromium is driven over the DevTools protocol on its pipe (`--remote-debugging-pipe`), so
no websocket client is needed; the test is skipped when chromium is not installed."""

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pika
import pytest

from berth_cluster import GUEST_BASIC_AUTH, HOST

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

PAGE_SECONDS = 15    # the most any wait for the page to show something may take (it polls every 2 s)
REPLY_SECONDS = 10   # the most Chromium may take to answer one command
MESSAGES = 7


class DevToolsError(Exception):
    pass


class Browser:
    """A headless Chromium commanded over its DevTools pipe: JSON messages, each ended by a
    NUL byte, written to its fd 3 and read from its fd 4. Events arriving while a command
    waits for its reply are kept in `events`."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="berth-dashboard-chromium.")
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def pipe_on_fds_3_and_4():
            # Through fds above 10, so that neither dup2 overwrites the other's source.
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (commands_read, replies_write)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.log_path = os.path.join(self.profile, "chromium.log")
        with open(self.log_path, "wb") as log:
            # close_fds=False keeps fds 3 and 4; Python's own fds are not inheritable anyway.
            self.process = subprocess.Popen(
                [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                 "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--remote-debugging-pipe", f"--user-data-dir={self.profile}", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, close_fds=False, preexec_fn=pipe_on_fds_3_and_4)
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._last_id = 0
        self.events = []

    def send(self, method, params=None, session=None):
        """Chromium's result for one command, within REPLY_SECONDS."""
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + REPLY_SECONDS
        while True:
            reply = self._next_message(deadline, method)
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise DevToolsError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _next_message(self, deadline, waiting_for):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            readable = select.select([self._replies], [], [], max(left, 0))[0]
            if not readable:
                raise DevToolsError(f"no reply to {waiting_for} within {REPLY_SECONDS} s")
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise DevToolsError(f"chromium closed its pipe:\n{self.log_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url, headers):
        """A new tab at `url`, whose every request carries `headers`, recording its network,
        console and exceptions."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Network", "Runtime", "Log", "Page"):
            self.send(f"{domain}.enable", session=session)
        self.send("Network.setExtraHTTPHeaders", {"headers": headers}, session)
        self.send("Page.navigate", {"url": url}, session)
        return Tab(self, target, session)

    def log_tail(self, lines=10):
        with open(self.log_path, "rb") as log:
            return b"".join(log.readlines()[-lines:]).decode("utf-8", "replace")

    def close(self):
        try:
            self.send("Browser.close")
        except (DevToolsError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self._commands)
        os.close(self._replies)
        shutil.rmtree(self.profile, ignore_errors=True)


class Tab:
    def __init__(self, browser, target, session):
        self.browser = browser
        self.target = target
        self.session = session

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (JSON-like values only)."""
        result = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, self.session)
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, done, what):
        """The expression's value once `done(value)`, polled until PAGE_SECONDS have passed."""
        deadline = time.monotonic() + PAGE_SECONDS
        while True:
            value = self.evaluate(expression)
            if done(value):
                return value
            if time.monotonic() > deadline:
                text = self.evaluate("document.body ? document.body.innerText : ''")
                raise AssertionError(f"the page did not show {what} within {PAGE_SECONDS} s; last {value!r}; page:\n{text}")
            time.sleep(0.1)

    def events(self, *methods):
        return [event["params"] for event in self.browser.events
                if event.get("sessionId") == self.session and event.get("method") in methods]

    def close(self):
        self.browser.send("Target.closeTarget", {"targetId": self.target})


@pytest.fixture(scope="module")
def browser():
    started = Browser()
    yield started
    started.close()


MEMBERS = """[...document.querySelectorAll('#members tbody tr')]
    .map(row => [Number(row.dataset.member), row.querySelector('.role').textContent, row.querySelector('.lag').textContent])"""


def queue_row(vhost, name):
    return f"""(() => {{
        const row = [...document.querySelectorAll('#queues tbody tr')]
            .find(row => row.dataset.vhost === {json.dumps(vhost)} && row.dataset.name === {json.dumps(name)});
        return row ? ['ready', 'unacked', 'consumers'].map(cell => row.querySelector('.' + cell).textContent) : null;
    }})()"""


@pytest.mark.parametrize("role", ["leader", "follower"])
def test_dashboard_shows_the_members_and_a_queue_and_asks_only_its_own_node(local_cluster, browser, role, names):
    node = local_cluster.in_role(role)
    leader = local_cluster.leader()
    origin = f"http://{HOST}:{node.http_port}"

    # The page itself needs no credentials; what it asks of the API does, and a 401 tells the
    # browser to ask the user for them.
    with urllib.request.urlopen(origin + "/", timeout=5) as reply:
        assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
        policy = reply.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "unsafe" not in policy
        assert b"<canvas" in reply.read()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(origin + "/api/berth/node", timeout=5)
    assert refused.value.code == 401 and refused.value.headers["WWW-Authenticate"].startswith("Basic")

    tab = browser.open(origin + "/", {"Authorization": GUEST_BASIC_AUTH})
    try:
        # (a) The three members, one of them the leader, as this node knows them.
        members = tab.wait_for(MEMBERS, lambda rows: len(rows) == 3, "three members")
        assert sorted((id, shown_role) for id, shown_role, _ in members) == \
            [(n.id, "leader" if n is leader else "follower") for n in local_cluster.nodes]
        lags = [lag for id, _, lag in members if id != leader.id]
        if role == "leader":
            assert all(lag.isdigit() for lag in lags), f"the leader knows each follower's lag: {members}"
        else:
            assert lags == ["\u2014", "\u2014"], f"a follower knows no lag: {members}"
            assert f"node {leader.id}" in tab.evaluate("document.getElementById('members-note').textContent")
        assert f"node {node.id} ({role}" in tab.evaluate("document.getElementById('answering').textContent")

        # (b) A queue with MESSAGES ready, once they are confirmed.
        queue = names("q")
        connection = pika.BlockingConnection(pika.ConnectionParameters(host=HOST, port=node.amqp_port))
        channel = connection.channel()
        try:
            channel.queue_declare(queue, durable=True)
            channel.confirm_delivery()
            for n in range(MESSAGES):
                channel.basic_publish("", queue, f"message {n}".encode(), pika.BasicProperties(delivery_mode=2))
            tab.wait_for(queue_row("/", queue), lambda cells: cells == [str(MESSAGES), "0", "0"], f"queue {queue} with {MESSAGES} ready")
        finally:
            channel.queue_delete(queue)
            connection.close()

        # (c) Every request went to this node, and nothing went wrong in the page.
        requested = [event["request"]["url"] for event in tab.events("Network.requestWillBeSent")]
        assert origin + "/api/berth/node" in requested
        elsewhere = [url for url in requested if not url.startswith(origin + "/") and not url.startswith("data:")]
        assert elsewhere == [], f"requests to another origin: {elsewhere}"
        errors = [event["exceptionDetails"] for event in tab.events("Runtime.exceptionThrown")] + \
            [event for event in tab.events("Runtime.consoleAPICalled") if event["type"] in ("error", "assert")] + \
            [event["entry"] for event in tab.events("Log.entryAdded") if event["entry"]["level"] == "error"]
        assert errors == [], f"the page logged errors: {errors}"
    finally:
        tab.close()
