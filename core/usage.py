"""CPU, memory and GPU usage of what a job runs, sampled on its node into <job_dir>/usage.json.

hooks/jairun (training ranks) and hooks/svcrun (service servers) record it while their
children run; the portal reads it back for the job or service page, whatever node and
scheduler ran it (the portal host's /proc knows nothing of a Slurm node's processes).
Standard library, core.procstats and core.gpus only: the job side must start fast.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

from core import gpus, procstats

USAGE_KEEP = 120  # samples kept (10 minutes at the default interval)
FILE = "usage.json"


class UsageRecorder:
    """Samples of everything under this process (its children's trees), newest last."""

    def __init__(self, job_dir: Path, interval: float, visible_gpus: str | None,
                 reap_except: int | None = None, extra: Callable[[], dict[str, Any]] | None = None):
        self.path, self.interval, self.visible = Path(job_dir) / FILE, interval, visible_gpus
        self.reap_except, self.extra = reap_except, extra
        self.samples: list[dict[str, Any]] = []
        self.last: procstats.Sample | None = None
        self.next_at = 0.0

    def maybe_sample(self) -> None:
        if time.time() < self.next_at:
            return
        self.next_at = time.time() + self.interval
        me = os.getpid()
        if self.reap_except is not None:  # orphans a subreaper adopted; its own child is Popen's
            for pid in procstats.zombie_children(me):
                if pid != self.reap_except:
                    try:
                        os.waitpid(pid, os.WNOHANG)
                    except ChildProcessError:
                        pass
        now = procstats.sample(me, with_root=False)
        if now is None:
            return
        gpu_list, gpu_note = gpus.usage(self.visible, now.pids)
        sample = {"at": round(now.at, 3), "processes": now.processes, "pids": now.pids[:64],
                  "cpu_seconds": round(now.cpu_seconds, 2),
                  "cpu_percent": procstats.cpu_percent(self.last, now) if self.last else None,
                  "rss_mb": round(now.rss_bytes / 2**20, 1), "gpus": gpu_list}
        if self.extra is not None:
            sample.update(self.extra())
        self.samples.append(sample)
        self.last = now
        del self.samples[:-USAGE_KEEP]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"interval_s": self.interval, "gpu_note": gpu_note, "samples": self.samples}))
        tmp.replace(self.path)


def read_usage(job_dir: str | Path | None, history: bool = True) -> dict[str, Any]:
    """The latest sample (CPU percent of one core, resident MB, processes, GPUs and a note
    such as "no GPU"), with history the earlier ones (oldest first); {} before the first."""
    if not job_dir:
        return {}
    try:
        data = json.loads((Path(job_dir) / FILE).read_text())
        samples = list(data["samples"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not samples:
        return {}
    out = {**samples[-1], "gpu_note": data.get("gpu_note", ""), "interval_s": data.get("interval_s")}
    if history:
        out["history"] = [{k: x.get(k) for k in ("at", "cpu_percent", "rss_mb", "processes", "metrics") if k in x}
                          for x in samples]
    return out
