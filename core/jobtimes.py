"""A job's times as people read them: submitted/started/ended in the site's time zone (no
microseconds), waited and elapsed (live while running), the time limit and what is left of it.

The portal, the CLI and the LSF shells show the same facts from here. The site's time zone is
`[core] timezone` of etc/hpcai.toml (an IANA name such as "Asia/Shanghai"), or HPCAI_TIMEZONE,
else the machine's local zone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ValidationError

LIVE_STATES = ("queued", "running", "suspended", "unknown")


@lru_cache(maxsize=8)
def _zone(name: str) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"'{name}' is not a time zone", field="core.timezone",
                              fix="use an IANA name such as Asia/Shanghai or UTC") from None


def site_zone(raw_config: dict[str, Any] | None = None) -> tzinfo | None:
    """None means the machine's local zone."""
    name = os.environ.get("HPCAI_TIMEZONE") or str((raw_config or {}).get("core", {}).get("timezone", ""))
    return _zone(name)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite returns naive UTC


def local_time(value: datetime | None, zone: tzinfo | None = None, short: bool = False) -> str:
    """'2026-12-03 07:44:12' (or 'Dec 03 07:44' when short) in the site's zone; '-' for none."""
    if value is None:
        return "-"
    shown = _aware(value).astimezone(zone)
    return shown.strftime("%b %d %H:%M" if short else "%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    """'45s', '12m 05s', '3h 02m', '2d 04h'; '-' for none."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {s:02d}s"
    return f"{s}s"


@dataclass(frozen=True)
class JobTimes:
    submitted: datetime | None
    started: datetime | None
    ended: datetime | None
    waited_s: float | None      # queued until it started (or until now, still queued)
    elapsed_s: float | None     # running time so far, or in all once ended
    time_limit_min: int | None
    remaining_s: float | None   # of the time limit, while running
    live: bool

    def as_dict(self, zone: tzinfo | None = None) -> dict[str, Any]:
        return {"submitted": local_time(self.submitted, zone), "started": local_time(self.started, zone),
                "ended": local_time(self.ended, zone), "waited": duration(self.waited_s),
                "elapsed": duration(self.elapsed_s), "elapsed_s": self.elapsed_s,
                "time_limit": f"{duration(self.time_limit_min * 60)}" if self.time_limit_min else "none",
                "time_limit_min": self.time_limit_min, "remaining": duration(self.remaining_s),
                "live": self.live}


def job_times(row: Any, now: datetime | None = None) -> JobTimes:
    """The times of a job row (anything with submit/start/end_time, state and request)."""
    now = now or datetime.now(UTC)
    sub = _aware(row.submit_time) if row.submit_time else None
    start = _aware(row.start_time) if row.start_time else None
    end = _aware(row.end_time) if row.end_time else None
    live = row.state in LIVE_STATES
    waited = ((start or end or (now if live else None)) - sub).total_seconds() \
        if sub and (start or end or live) else None
    elapsed = ((end or now) - start).total_seconds() if start and (end or live) else None
    limit = (row.request or {}).get("time_limit_min")
    limit = int(limit) if isinstance(limit, (int, float)) and limit else None
    remaining = limit * 60 - elapsed if limit and elapsed is not None and live and not end else None
    return JobTimes(sub, start, end, waited, elapsed, limit, remaining, live)


def command_of(row: Any) -> str:
    """The run command as the user gave it."""
    return str((row.request or {}).get("command") or "")
