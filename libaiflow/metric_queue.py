"""Metric values queued in memory and sent to the tracking server in batches, in the background.

A training loop calls `log_metric` thousands of times; one HTTP round trip each (~10 ms) costs
more than many training steps. `MetricQueue.put` only appends to a deque (microseconds); a
daemon thread sends what accumulated every `interval_s` (or as soon as `batch` values wait),
as MLflow `log_batch` requests of at most 1000 metrics per run.

Why not MLflow's own async logging (`synchronous=False`): its queue is unbounded, and a batch
that fails is logged and dropped. Here a tracking server that is down costs nothing in the
training loop: values stay queued (bounded: past `max_pending` the oldest are dropped and
counted), the sender retries with a back-off, and one warning says so.

Flushing: `flush(timeout_s)` waits until everything queued before the call was sent (end_run,
normal exit, SIGTERM). A process killed hard (SIGKILL, OOM) loses what was not sent yet: at
most the last `interval_s` of values while the server answers.

No locks on the caller's side: `put` and `flush` may run inside a signal handler that
interrupted another `put` (deque appends and pops are atomic).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

MAX_PER_REQUEST = 1000  # MLflow's log_batch limit for metrics


class Value(NamedTuple):
    seq: int
    run_id: str
    key: str
    value: float
    timestamp_ms: int
    step: int


class SendFailed(Exception):
    """The server did not take a batch. `retry`: it may later (down, timeout); else never."""

    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


# send(run_id, values) raises SendFailed; say(message) tells the user (stderr).
Sender = Callable[[str, list[Value]], None]


class MetricQueue:
    def __init__(self, send: Sender, say: Callable[[str], None], interval_s: float = 1.0,
                 batch: int = MAX_PER_REQUEST, max_pending: int = 100_000, max_backoff_s: float = 30.0) -> None:
        self.send, self.say = send, say
        self.interval_s, self.batch, self.max_pending = interval_s, batch, max_pending
        self.max_backoff_s = max_backoff_s
        self._items: deque[Value] = deque()
        self._seq = itertools.count(1)
        self.last_seq = 0  # the newest value queued
        self.done_seq = 0  # every value up to this one was sent (or dropped)
        self.sent = 0
        self.dropped = 0
        self._flush_wanted = False
        self._retry_at = 0.0
        self._backoff = 0.0
        self._down_since: float | None = None
        self._pid = -1
        self._thread: threading.Thread | None = None

    # --- the caller's side (training loop, end_run, exit, signal handler) ----------------------

    def put(self, run_id: str, key: str, value: float, timestamp_ms: int, step: int) -> None:
        if self._pid != os.getpid():
            self._start()  # first use, or a forked child (the parent's thread is not here)
        seq = next(self._seq)
        self._items.append(Value(seq, run_id, key, value, timestamp_ms, step))
        self.last_seq = seq
        if len(self._items) > self.max_pending:
            self._drop_oldest()

    def flush(self, timeout_s: float) -> bool:
        """Wait until every value queued so far was sent; False when `timeout_s` passed first
        (the values stay queued and the sender goes on trying)."""
        target = self.last_seq
        if self.done_seq >= target or self._thread is None or self._pid != os.getpid():
            return self.done_seq >= target
        deadline = time.monotonic() + timeout_s
        self._flush_wanted = True
        while self.done_seq < target and time.monotonic() < deadline:
            time.sleep(0.005)  # a poll, not a lock: safe inside a signal handler
        return self.done_seq >= target

    @property
    def pending(self) -> int:
        return len(self._items)

    # --- the sender thread ---------------------------------------------------------------------

    def _start(self) -> None:
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._loop, name="libaiflow-metrics", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        last = time.monotonic()
        while True:
            time.sleep(0.02)
            now = time.monotonic()
            due = self._flush_wanted or len(self._items) >= self.batch or now - last >= self.interval_s
            if not self._items or not due:
                continue
            if now < self._retry_at and not self._flush_wanted:
                continue
            self._flush_wanted = False
            last = now
            self._send_all()

    def _send_all(self) -> None:
        while self._items:
            chunk = self._take()
            if not chunk:
                return
            groups = _by_run(chunk)
            for i, (run_id, values) in enumerate(groups):
                try:
                    self.send(run_id, values)
                    self.sent += len(values)
                except SendFailed as exc:
                    if exc.retry:  # kept, in order, for the next try
                        self._items.extendleft(reversed([v for _, vs in groups[i:] for v in vs]))
                        self._failed(str(exc))
                        return
                    # The server answered no (a deleted run, a refused value): retrying cannot help.
                    self.say(f"WARNING: the tracking server refused {len(values)} metric value(s) of run "
                             f"{run_id}: {exc}")
                    self.dropped += len(values)
            self.done_seq = max(self.done_seq, chunk[-1].seq)
            self._recovered()

    def _take(self) -> list[Value]:
        out: list[Value] = []
        while self._items and len(out) < self.batch:
            try:
                out.append(self._items.popleft())
            except IndexError:  # a put's drop took the last one meanwhile
                break
        return out

    def _drop_oldest(self) -> None:
        try:
            oldest = self._items.popleft()
        except IndexError:
            return
        self.dropped += 1
        self.done_seq = max(self.done_seq, oldest.seq)
        if self.dropped == 1:
            self.say(f"WARNING: more than {self.max_pending} metric values wait for the tracking server; "
                     "the oldest are dropped from now on (LIBAIFLOW_MAX_PENDING raises the bound)")

    def _failed(self, why: str) -> None:
        self._backoff = min(max(self._backoff * 2, 1.0), self.max_backoff_s)
        self._retry_at = time.monotonic() + self._backoff
        if self._down_since is None:
            self._down_since = time.monotonic()
            self.say(f"WARNING: metric values could not be sent ({why}); training goes on, "
                     f"{len(self._items)} value(s) are kept and sent again every {self.max_backoff_s:.0f} s "
                     "at most")

    def _recovered(self) -> None:
        if self._down_since is not None:
            self.say(f"the tracking server answers again after {time.monotonic() - self._down_since:.0f} s; "
                     "the kept metric values were sent")
        self._down_since, self._backoff, self._retry_at = None, 0.0, 0.0


def _by_run(chunk: list[Value]) -> list[tuple[str, list[Value]]]:
    """Consecutive values of one run, in queue order (a run switch starts a new request)."""
    out: list[tuple[str, list[Value]]] = []
    for v in chunk:
        if out and out[-1][0] == v.run_id:
            out[-1][1].append(v)
        else:
            out.append((v.run_id, [v]))
    return out
