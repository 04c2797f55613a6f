"""The scheduler watcher: one background loop that polls every scheduler in one batch.

Pages never ask the scheduler; they read the store, which this loop keeps current. The loop
backs off while nothing changes (2, 4, 8 ... 60 s) and starts again at 2 s after a change or
a poke (a submission, a kill).
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.platform import Platform

MIN_DELAY = 2.0
MAX_DELAY = 60.0


class Watcher:
    def __init__(self, platform: "Platform", min_delay: float = MIN_DELAY, max_delay: float = MAX_DELAY):
        self.p = platform
        self.min_delay, self.max_delay = min_delay, max_delay
        self.delay = min_delay
        self.cycles = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        """Something happened (a submission, a kill): poll soon and reset the back-off."""
        self.delay = self.min_delay
        self._wake.set()

    def cycle(self) -> int:
        changes = 0
        try:
            changes = self.p.jobs.refresh()
            self.p.monitor.refresh()
        except Exception as exc:  # an outage must not end the loop; jobs stay as recorded
            print(f"hpcai watcher: refresh failed: {exc}", file=sys.stderr)
        self.cycles += 1
        return changes

    def run(self) -> None:
        while not self._stop.is_set():
            poked = self._wake.is_set()
            self._wake.clear()
            changed = self.cycle() > 0
            self.delay = self.min_delay if (changed or poked) else min(self.delay * 2, self.max_delay)
            self._wake.wait(self.delay)

    def start(self) -> "Watcher":
        self._thread = threading.Thread(target=self.run, name="hpcai-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)
