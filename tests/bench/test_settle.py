"""``bench.load.settle``: a load ends once its server has gone quiet."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from bench.load import settle

# Busy for ``busy_s`` (a server finishing the requests a load left in flight), then idle.
_BUSY_THEN_IDLE = """
import sys, time
end = time.monotonic() + float(sys.argv[1])
print("ready", flush=True)
while time.monotonic() < end:
    pass
time.sleep(30)
"""


def _process(busy_s: float) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _BUSY_THEN_IDLE, str(busy_s)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def test_settle_waits_for_a_busy_server_and_not_for_a_quiet_one() -> None:
    busy = _process(0.8)
    try:
        started = time.monotonic()
        waited = asyncio.run(settle(busy.pid, max_s=5.0))
        assert 0.5 <= waited <= 3.0
        assert time.monotonic() - started >= 0.5
        # Now idle: quiet within a step or two.
        assert asyncio.run(settle(busy.pid, max_s=5.0)) < 0.5
    finally:
        busy.kill()
        busy.wait()


def test_settle_gives_up_after_its_bound() -> None:
    busy = _process(60.0)
    try:
        waited = asyncio.run(settle(busy.pid, max_s=0.5))
        assert 0.5 <= waited < 1.0
    finally:
        busy.kill()
        busy.wait()
