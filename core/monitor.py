"""Cached cluster information for the "application resource monitoring" panel (F111).

The scheduler is asked at most once per `ttl` seconds per (scheduler, queue), however many
pages are shown; the watcher refreshes it in the background.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from core.errors import HpcaiError

if TYPE_CHECKING:
    from core.platform import Platform


class ClusterMonitor:
    def __init__(self, platform: "Platform", ttl: float = 30.0):
        self.p = platform
        self.ttl = ttl
        self._cache: dict[tuple[str, str | None], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.calls = 0  # scheduler queries made (read by tests and the benchmark)

    def info(self, queue: str | None = None, scheduler: str | None = None,
             max_age: float | None = None) -> dict[str, Any]:
        name = scheduler or self.p.config.default_scheduler
        key = (name, queue)
        age = self.ttl if max_age is None else max_age
        with self._lock:
            hit = self._cache.get(key)
            if hit and time.monotonic() - hit[0] < age:
                return hit[1]
            self.calls += 1
            try:
                data = asdict(self.p.registry.scheduler(name).cluster_info(queue))
                data["error"] = None
            except (HpcaiError, OSError) as exc:
                data = {"queue": queue, "free_cpus": None, "total_cpus": None, "queued_jobs": None,
                        "running_jobs": None, "free_gpus": None, "error": str(exc)}
            data["scheduler"] = name
            data["as_of"] = time.time()
            self._cache[key] = (time.monotonic(), data)
            return data

    def refresh(self) -> None:
        """Re-read every (scheduler, queue) pair someone looked at."""
        for name, queue in list(self._cache):
            self.info(queue, name, max_age=0)
