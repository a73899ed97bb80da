"""Child processes the crash and concurrency tests start, stop at a chosen statement, and SIGKILL.

A child calls :func:`pause_after` first: every DuckDB connection it opens from then on is wrapped so
that, right after a statement matching ``trigger`` has run, it writes a marker file and sleeps. The parent
waits for the marker, so it knows exactly where the child is (e.g. inside the batch's transaction, after
the raw rows were inserted and before COMMIT) and kills it there with SIGKILL: nothing in the child
gets a chance to clean up, as with a power cut or the OOM killer.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

TESTS_DIR = Path(__file__).resolve().parent.parent


class _PausingConnection:
    """Delegates to a real connection; pauses forever after the trigger statement."""

    def __init__(self, real: duckdb.DuckDBPyConnection, trigger: re.Pattern, marker: Path) -> None:
        self._real = real
        self._trigger = trigger
        self._marker = marker

    def execute(self, query: str, *args, **kwargs):
        result = self._real.execute(query, *args, **kwargs)
        if self._trigger.search(query):
            self._marker.write_text(query[:200])
            while True:  # the parent kills us here
                time.sleep(1)
        return result

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._real.close()

    def __getattr__(self, name: str):
        return getattr(self._real, name)


def pause_after(trigger: str, marker: str) -> None:
    """Install the pause in this (child) process: see the module docstring."""
    pattern = re.compile(trigger, re.IGNORECASE | re.DOTALL)
    real_connect = duckdb.connect

    def connect(*args, **kwargs):
        return _PausingConnection(real_connect(*args, **kwargs), pattern, Path(marker))

    duckdb.connect = connect


def start_child(code: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``python -c code`` with the tests folder importable, output into ``log``."""
    preamble = f"import sys; sys.path.insert(0, {str(TESTS_DIR)!r})\n"
    handle = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-c", preamble + code],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        cwd=TESTS_DIR.parent,
    )


def wait_for(condition, *, timeout: float, child: subprocess.Popen | None = None, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if child is not None and child.poll() is not None:
            raise AssertionError(f"the child exited ({child.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def kill_hard(child: subprocess.Popen) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
