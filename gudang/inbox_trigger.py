"""File-arrival trigger for the ingest DAGs: an Airflow event trigger watching one source's inbox.

The standard provider's event triggers (``FileDeleteTrigger``, ``DirectoryFileDeleteTrigger``) delete the
file they find, which would destroy the agency's submission before it is loaded, so gudang ships its own.
It runs in the triggerer, attached to the source's inbox Asset through an ``AssetWatcher``: when a new file
has arrived and stopped growing, it fires, the Asset gets an event, and the ingest DAG (scheduled on that
Asset or its cron) runs. Files already present when the watcher starts are left to the cron run, so a
triggerer restart never floods the DAG with runs; a file seen twice is at worst ingested as a duplicate,
which the content hash turns into a no-op.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent


def _snapshot(directory: str, patterns: list[str]) -> dict[str, tuple[int, int]]:
    """name -> (size, ctime_ns) of the files in the inbox folder matching the source's patterns."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return {}
    found: dict[str, tuple[int, int]] = {}
    for entry in entries:
        if entry.is_file() and any(fnmatch.fnmatch(entry.name.lower(), p.lower()) for p in patterns):
            stat = entry.stat()
            found[entry.name] = (stat.st_size, stat.st_ctime_ns)
    return found


class InboxArrivalTrigger(BaseEventTrigger):
    """Fire when a new, fully written file matching ``patterns`` appears in ``directory``."""

    def __init__(self, *, directory: str, patterns: list[str], poke_interval: float = 30.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.directory = directory
        self.patterns = list(patterns)
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"directory": self.directory, "patterns": self.patterns, "poke_interval": self.poke_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        started_ns = time.time_ns()
        previous = await asyncio.to_thread(_snapshot, self.directory, self.patterns)
        announced: set[tuple[str, int]] = set()
        while True:
            await asyncio.sleep(self.poke_interval)
            current = await asyncio.to_thread(_snapshot, self.directory, self.patterns)
            # New since the watcher started, and the same size as one poll ago (the copy has finished).
            ready = sorted(
                name
                for name, (size, ctime_ns) in current.items()
                if ctime_ns >= started_ns
                and previous.get(name, (None,))[0] == size
                and (name, ctime_ns) not in announced
            )
            previous = current
            if ready:
                announced.update((name, current[name][1]) for name in ready)
                self.log.info("new files in %s: %s", self.directory, ", ".join(ready))
                yield TriggerEvent({"directory": self.directory, "files": ready})
