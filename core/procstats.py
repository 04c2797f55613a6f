"""CPU and memory of a process tree, read from Linux /proc (standard library only).

hooks/svcrun samples its server's tree on the node every few seconds and writes the samples
to `<job_dir>/usage.json`, so the portal shows a service's usage whatever node and scheduler
run it (the portal host's /proc knows nothing of a Slurm node's processes).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces and ')')."""
    return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def tree(root: int) -> list[int]:
    """root and all its descendants (children found through each process's parent id)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(entry.name))[1])
        except (OSError, ValueError, IndexError):  # exited while we looked
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


@dataclass
class Sample:
    at: float  # time.time()
    cpu_seconds: float  # user + system time of the tree so far
    rss_bytes: int
    pids: list[int]

    @property
    def processes(self) -> int:
        return len(self.pids)


def sample(root: int, with_root: bool = True) -> Sample | None:
    """The tree's CPU time and resident memory now (without root itself if asked: a
    supervisor measuring what it runs); None when no process of the tree is left."""
    cpu_ticks, rss_pages, seen = 0, 0, []
    for pid in tree(root):
        if pid == root and not with_root:
            continue
        try:
            f = _stat_fields(pid)
            statm = (PROC / str(pid) / "statm").read_text().split()
        except (OSError, ValueError, IndexError):
            continue
        cpu_ticks += int(f[11]) + int(f[12])  # utime, stime
        rss_pages += int(statm[1])
        seen.append(pid)
    if not seen:
        return None
    return Sample(at=time.time(), cpu_seconds=cpu_ticks / _TICK, rss_bytes=rss_pages * _PAGE, pids=sorted(seen))


def zombie_children(parent: int) -> list[int]:
    """Children of parent that have exited and wait to be reaped."""
    out = []
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:
            f = _stat_fields(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
        if f[0] == "Z" and int(f[1]) == parent:
            out.append(int(entry.name))
    return out


def cpu_percent(before: Sample, after: Sample) -> float:
    """CPU use between two samples, 100 = one core busy (processes that ended between the
    samples take their time with them, so a short dip can read low, never negative)."""
    wall = after.at - before.at
    if wall <= 0:
        return 0.0
    return round(max(0.0, after.cpu_seconds - before.cpu_seconds) / wall * 100, 1)
