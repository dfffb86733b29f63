"""The pika checks of pika_compat.py (blocking and select-connection adapters), run against
the cluster's leader and a follower: run.sh runs them on a lone node, with restarts."""

import os
import subprocess
import sys

import pytest

SUITE = os.path.join(os.path.dirname(__file__), "pika_compat.py")


@pytest.mark.seconds(180)
def test_every_pika_check_passes(node):
    finished = subprocess.run([sys.executable, "-u", SUITE, "--host", node.host, "--port", str(node.port)],
                              capture_output=True, text=True, timeout=170)
    lines = finished.stdout.splitlines()
    failures = [line for line in lines if line.startswith("FAIL ")]
    assert not failures, "\n".join(failures)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    assert any(line.endswith(" passed, 0 failed") for line in lines), finished.stdout[-2000:]
