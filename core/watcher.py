"""The scheduler watcher: one background loop that polls every scheduler in one batch.

Pages never ask the scheduler; they read the store, which this loop keeps current. The loop
backs off while nothing changes (2, 4, 8 ... 60 s) and starts again at 2 s after a change or
a poke (a submission, a kill).

Job-side hints (issue 22): with `[core] watcher_hint = "HOST:PORT"` (or HPCAI_WATCHER_HINT)
the watcher listens for UDP datagrams there, and hooks/jairun sends one when a job's ranks
start and when they end. A hint only wakes the loop (a poll now and one shortly after); what
a job sends never sets a state: the scheduler's answer stays the record, and a lost datagram
costs only latency (the next regular poll sees the change).
"""

from __future__ import annotations

import functools
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.config import Config
    from core.platform import Platform

MIN_DELAY = 2.0
MAX_DELAY = 60.0
HINT_FOLLOWUP_S = 1.0  # the exit_code file and the scheduler's state lag the launcher's "ended"
HINT_MIN_GAP_S = 0.5  # a flood of datagrams costs at most two polls a second


def hint_address(config: "Config") -> tuple[str, int] | None:
    """Where the watcher listens for hints (None: hints are off)."""
    import os

    text = os.environ.get("HPCAI_WATCHER_HINT") or str(config.raw.get("core", {}).get("watcher_hint", ""))
    if not text:
        return None
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        print(f"hpcai watcher: watcher_hint {text!r} is not HOST:PORT; hints are off", file=sys.stderr)
        return None
    return host or "0.0.0.0", int(port)


def hint_target(config: "Config") -> str | None:
    """HOST:PORT a job sends its hints to (the listening host, or this host's name)."""
    addr = hint_address(config)
    if addr is None:
        return None
    host = _this_host() if addr[0] in ("0.0.0.0", "") else addr[0]
    return f"{host}:{addr[1]}"


@functools.lru_cache(maxsize=1)
def _this_host() -> str:
    return socket.getfqdn()  # a DNS lookup: once per process, not once per submission


class Watcher:
    def __init__(self, platform: "Platform", min_delay: float = MIN_DELAY, max_delay: float = MAX_DELAY):
        self.p = platform
        self.min_delay, self.max_delay = min_delay, max_delay
        self.delay = min_delay
        self.cycles = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.hints = 0
        self._followup_at = 0.0
        self._last_hint = 0.0
        self._hint_socket: socket.socket | None = None

    def poke(self) -> None:
        """Something happened (a submission, a kill): poll soon and reset the back-off."""
        self.delay = self.min_delay
        self._wake.set()

    def hint(self) -> None:
        """A job said its ranks started or ended: poll now, and once more a moment later."""
        now = time.monotonic()
        if now - self._last_hint < HINT_MIN_GAP_S:
            self._followup_at = max(self._followup_at, now + HINT_FOLLOWUP_S)
            return
        self._last_hint = now
        self.hints += 1
        self._followup_at = now + HINT_FOLLOWUP_S
        self.poke()

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
            wait = self.delay
            followup = self._followup_at - time.monotonic()
            if followup > 0:
                wait = min(wait, followup)
                self._followup_at = 0.0 if followup <= wait else self._followup_at
            self._wake.wait(wait)

    def start(self) -> "Watcher":
        self._thread = threading.Thread(target=self.run, name="hpcai-watcher", daemon=True)
        self._thread.start()
        addr = hint_address(self.p.config)
        if addr is not None:
            self._listen_for_hints(addr)
        return self

    def _listen_for_hints(self, addr: tuple[str, int]) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(addr)
        except OSError as exc:
            sock.close()
            print(f"hpcai watcher: cannot listen for job hints on {addr[0]}:{addr[1]} ({exc}); "
                  "state changes wait for the next poll", file=sys.stderr)
            return
        sock.settimeout(1.0)
        self._hint_socket = sock

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    sock.recvfrom(128)  # the content is not trusted, nor needed: it is a wake-up
                except (socket.timeout, OSError):
                    continue
                self.hint()

        threading.Thread(target=loop, name="hpcai-watcher-hints", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)
        if self._hint_socket is not None:
            self._hint_socket.close()
