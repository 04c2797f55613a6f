"""`hpcai serve`'s watcher election, in one process: two candidates on one data directory (as two
gunicorn workers would be), one holder, pokes from the other reach it, and the other takes over
when the holder stops. The end-to-end version (a killed worker) is in test_proxy_ws.py."""

from __future__ import annotations

import os
import time

from core.config import load_config
from core.platform import Platform
from portal.server import POLL_S, SharedWatcher
from tests.svc.helpers import scratch, wait_for

# Without a poke the watcher would not cycle again for an hour: a second cycle proves the poke.
QUIET = {"min_delay": 3600.0, "max_delay": 3600.0}


def test_one_holder_takes_pokes_and_hands_over() -> None:
    data = scratch("shared-watcher")
    env = {"HPCAI_DATA_DIR": str(data)}
    first, second = Platform(load_config(env)), Platform(load_config(env))
    first.store.migrate()
    a = SharedWatcher(first, **QUIET).start()
    b = None
    try:
        holder = wait_for(lambda: a.watcher, 10, "the first candidate to hold the lock")
        wait_for(lambda: holder.cycles >= 1, 30, "the first cycle")
        b = SharedWatcher(second, **QUIET).start()
        time.sleep(POLL_S * 2.5)  # b tries the lock twice meanwhile, in vain
        assert b.watcher is None
        assert (data / "watcher.lock").read_text().strip() == str(os.getpid())
        seen = holder.cycles

        def poked() -> bool:
            b.poke()  # b is no holder: the poke goes to a as a datagram
            return holder.cycles > seen

        wait_for(poked, 30, "b's poke to make a cycle", interval=0.5)
        a.stop()
        wait_for(lambda: b.watcher, 10, "b to take the watcher over")
        wait_for(lambda: b.watcher.cycles >= 1, 30, "b's first cycle")  # type: ignore[union-attr]
    finally:
        a.stop()
        if b is not None:
            b.stop()
