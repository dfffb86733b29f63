"""Fixtures of the client scenario tests (`test_*.py` here).

Every test that takes `node` runs twice: against the cluster's leader and against a
follower, which must behave alike. Tests marked `leader_change` take `cluster` and fault it
(they run last, and leave every node running and caught up). With `--broker HOST:PORT` the
tests run once against that broker instead (RabbitMQ, to check that a test expects what
RabbitMQ does), and the `leader_change` ones are skipped, as are those marked
`newer_than_3_10`: where Berth gives RabbitMQ 4's answer rather than 3.10's, and those
marked `plugin`: what RabbitMQ does only with that plugin installed, and those marked
`berth_only`: a promise of Berth's that RabbitMQ does not make.

    python -m pytest Tests/Compatibility                      # builds nothing: needs .build/debug/berth
    python -m pytest Tests/Compatibility --berth PATH         # another binary
    python -m pytest Tests/Compatibility --broker 127.0.0.1:5704
"""

import os
import signal
import uuid
from dataclasses import dataclass

import pytest

from berth_cluster import HOST, LocalCluster

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEST_SECONDS = 60  # one test's watchdog; a marker `seconds(N)` changes it


def pytest_addoption(parser):
    parser.addoption("--berth", default=os.environ.get("BERTH_BIN", os.path.join(ROOT, ".build", "debug", "berth")),
                     help="the berth binary the cluster runs")
    parser.addoption("--broker", default=None, metavar="HOST:PORT",
                     help="run against this broker instead of a local cluster")


def pytest_configure(config):
    config.addinivalue_line("markers", "leader_change: faults the cluster (runs last; needs a local cluster)")
    config.addinivalue_line("markers", "seconds(n): this test's watchdog")
    config.addinivalue_line("markers", "newer_than_3_10(why): Berth answers as RabbitMQ 4 does, not as 3.10 "
                                       "(skipped with --broker)")
    config.addinivalue_line("markers", "plugin(name): RabbitMQ answers so with this plugin (skipped with --broker)")
    config.addinivalue_line("markers", "berth_only(why): Berth promises this and RabbitMQ does not (skipped with --broker)")


def pytest_generate_tests(metafunc):
    if "node" in metafunc.fixturenames:
        roles = ["broker"] if metafunc.config.getoption("--broker") else ["leader", "follower"]
        metafunc.parametrize("node", roles, indirect=True)


def pytest_collection_modifyitems(config, items):
    # Faults last, so that a failure there cannot disturb the other tests.
    items.sort(key=lambda item: item.get_closest_marker("leader_change") is not None)
    if config.getoption("--broker"):
        skip = pytest.mark.skip(reason="faults need the local cluster")
        for item in items:
            if item.get_closest_marker("leader_change"):
                item.add_marker(skip)
            if newer := item.get_closest_marker("newer_than_3_10"):
                item.add_marker(pytest.mark.skip(reason=f"RabbitMQ 3.10 answers otherwise: {newer.args[0]}"))
            if plugin := item.get_closest_marker("plugin"):
                item.add_marker(pytest.mark.skip(reason=f"needs RabbitMQ's plugin {plugin.args[0]}"))
            if own := item.get_closest_marker("berth_only"):
                item.add_marker(pytest.mark.skip(reason=f"Berth's own promise: {own.args[0]}"))


@dataclass(frozen=True)
class Endpoint:
    """Where a test's clients connect."""
    host: str
    port: int
    role: str

    @property
    def url(self):
        return f"amqp://guest:guest@{self.host}:{self.port}/"


@pytest.fixture(scope="session")
def local_cluster(request):
    if request.config.getoption("--broker"):
        pytest.skip("faults need the local cluster")
    berth = request.config.getoption("--berth")
    if not os.access(berth, os.X_OK):
        pytest.exit(f"no berth binary at {berth}: swift build --product berth", returncode=2)
    cluster = LocalCluster(berth)
    try:
        cluster.start()
    except Exception:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster(local_cluster):
    """The local cluster, for a test that faults it: every node runs and has caught up
    again after the test."""
    yield local_cluster
    for node in local_cluster.nodes:
        if not node.running:
            local_cluster.restart(node)
    local_cluster.wait_for_leader()
    local_cluster.wait_caught_up()


@pytest.fixture
def node(request):
    broker = request.config.getoption("--broker")
    if broker:
        host, port = broker.rsplit(":", 1)
        return Endpoint(host, int(port), "broker")
    target = request.getfixturevalue("local_cluster").in_role(request.param)
    return Endpoint(HOST, target.amqp_port, request.param)


@pytest.fixture
def names(request):
    """`names("q")`: a name of this test's own, so that tests never share a queue."""
    run = uuid.uuid4().hex[:8]
    test = request.node.name.replace("[", ".").replace("]", "")
    return lambda role="q": f"compat.{test}.{role}.{run}"


class Timeout(BaseException):
    """The watchdog's: a BaseException, so that no client's `except Exception` swallows it."""


@pytest.fixture(autouse=True)
def watchdog(request):
    marker = request.node.get_closest_marker("seconds")
    seconds = marker.args[0] if marker else TEST_SECONDS

    def expired(signum, frame):
        raise Timeout(f"the test did not end within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)
