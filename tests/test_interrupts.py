"""Ctrl-C stops a batch promptly and a killed parent leaves no worker behind.

The jobs here take minutes each (a runner that sleeps), so a run that is still going when the signal
arrives is guaranteed whatever the machine's speed, and a prompt stop can be told from jobs finishing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

JOB_SECONDS = 300
WAIT = 60  # generous: far below JOB_SECONDS, far above any prompt stop

RUNNER = f"""
import os, time
from pathlib import Path
from farside.conversion import Outcome

def slow(job):
    out = Path(job.out_dir)
    (out / f"started-{{os.getpid()}}-{{Path(job.path).name}}").write_text("")
    (out / f".{{Path(job.path).name}}.png.part").write_text("half-written")
    time.sleep({JOB_SECONDS})
    return Outcome(job.path, "converted")
"""

MAIN = """
import sys
from farside.batch import Job, process
from slow_runner import slow

if __name__ == "__main__":
    out = sys.argv[1]
    summary = process([Job(f"/nowhere/p{i}.2BL", out) for i in range(8)], workers=2, runner=slow)
    print("interrupted" if summary.interrupted else "finished", len(summary.outcomes), flush=True)
"""


def _start(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    (tmp_path / "slow_runner.py").write_text(textwrap.dedent(RUNNER))
    (tmp_path / "main.py").write_text(MAIN)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    parent = subprocess.Popen([sys.executable, str(tmp_path / "main.py"), str(out)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + WAIT * 3
    while len(list(out.glob("started-*"))) < 2:
        assert time.monotonic() < deadline and parent.poll() is None, (
            parent.stderr.read() if parent.poll() else ""
        )
        time.sleep(0.05)
    return parent, out


def _worker_pids(out: Path) -> set[int]:
    return {int(p.name.split("-")[1]) for p in out.glob("started-*")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped by its (possibly gone) parent.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_until_gone(pids: set[int]) -> set[int]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return {p for p in pids if _alive(p)}


def test_ctrl_c_stops_running_work_and_cleans_up(tmp_path):
    parent, out = _start(tmp_path)
    workers = _worker_pids(out)
    parent.send_signal(signal.SIGINT)
    stdout, stderr = parent.communicate(timeout=WAIT)  # the jobs would take minutes: this is a prompt stop
    assert stdout.split()[0] == "interrupted", stderr
    assert int(stdout.split()[1]) < 8  # the pending jobs were cancelled, not run
    assert not _wait_until_gone(workers)
    assert not list(out.glob(".*.part"))  # the running jobs' temporary files are removed


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_a_killed_parent_leaves_no_worker_behind(tmp_path):
    parent, out = _start(tmp_path)
    workers = _worker_pids(out)
    parent.kill()
    parent.wait(timeout=WAIT)
    assert not _wait_until_gone(workers)
