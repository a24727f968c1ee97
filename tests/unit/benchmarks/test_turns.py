"""Services taking turns on a core: never two at once, none left stopped, a dead one tolerated."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks._procs import cpu_seconds
from benchmarks._turns import Turns

SPIN = "while True: pass"


def _stopped(pid: int) -> bool:
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state in ("T", "t")


@pytest.fixture
def spinners() -> Iterator[list[subprocess.Popen[bytes]]]:
    command = [sys.executable, "-c", SPIN]
    processes = [subprocess.Popen(command, start_new_session=True) for _ in range(2)]  # noqa: S603
    yield processes
    for process in processes:
        process.kill()
        process.wait()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="two spinners need two CPUs to run at once untamed")
def test_one_process_runs_at_a_time_and_all_run_afterwards(spinners: list[subprocess.Popen[bytes]]) -> None:
    pids = [process.pid for process in spinners]
    # Unpinned, the two spinners would use two CPUs; taking turns, they use one between them, each half.
    before = {pid: cpu_seconds(pid) for pid in pids}
    started = time.monotonic()
    with Turns(pids, slice_s=0.05):
        time.sleep(1.0)
    wall = time.monotonic() - started
    used = {pid: cpu_seconds(pid) - before[pid] for pid in pids}
    assert sum(used.values()) <= 1.2 * wall
    assert all(0.2 * wall <= seconds <= 0.7 * wall for seconds in used.values())  # each had its turns
    assert not any(_stopped(pid) for pid in pids)


def test_a_process_that_dies_ends_the_rotation_without_an_error(spinners: list[subprocess.Popen[bytes]]) -> None:
    first, second = spinners
    with Turns([first.pid, second.pid], slice_s=0.02):
        second.kill()
        second.wait()
        time.sleep(0.1)
    assert not _stopped(first.pid)
