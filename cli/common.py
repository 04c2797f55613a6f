"""What every command-line shell shares: error reporting, tables, JSON, job views."""

from __future__ import annotations

import functools
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable

from core.errors import HpcaiError

if TYPE_CHECKING:  # the store pulls in SQLAlchemy: only commands that list jobs pay for it
    from core.platform import Platform
    from core.store import JobRow

EXIT_USAGE = 2
PROG = "hpcai"


def new_platform() -> "Platform":
    """The platform, imported on first use so `--help` and argument errors stay fast."""
    from core.platform import Platform

    return Platform()


def guarded(prog: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """User mistakes end as one clear message on stderr and exit status 2, never a traceback."""

    def wrap(fn: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> int:
            try:
                return fn(*args, **kwargs)
            except HpcaiError as exc:
                for line in exc.text.splitlines():
                    print(f"{prog}: error: {line}", file=sys.stderr)
                if getattr(exc, "detail", None):  # the technical cause: the shell user may act on it
                    print(f"{prog}: cause: {exc.detail}", file=sys.stderr)
                return exc.exit_code
            except KeyboardInterrupt:
                return 130
            except BrokenPipeError:  # `hpcai jobs | head`: the reader left; not an error of ours
                import os

                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return 0

        return inner

    return wrap


def table(headers: list[str], rows: Iterable[list[Any]], out=None) -> None:  # type: ignore[no-untyped-def]
    out = out or sys.stdout
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), file=out)
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip(), file=out)


def dump_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=_default, sort_keys=True, ensure_ascii=False))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def fast_read(query: Callable[[str], Any]) -> tuple[Any, Any]:
    """(config, query(db_url)) when a watcher keeps the store current, else (config, None): then
    the command takes the full path, which asks the schedulers first (core/jobsread.py)."""
    from core.config import load_config
    from core.jobsread import watcher_running

    config = load_config()
    if not watcher_running(config.data_dir):
        return config, None
    return config, query(config.db_url)


def job_dict(row: "JobRow", full: bool = False) -> dict[str, Any]:
    data = {
        "id": row.id, "uuid": row.uuid, "name": row.name, "user": row.user, "project": row.project,
        "framework": row.framework, "mode": row.mode, "runtime": row.runtime, "image": row.image,
        "scheduler": row.scheduler, "scheduler_job_id": row.scheduler_job_id, "queue": row.queue,
        "state": row.state, "raw_state": row.raw_state, "reason": row.reason,
        "exit_code": row.exit_code, "exec_hosts": row.exec_hosts, "from_host": row.from_host,
        "submit_time": row.submit_time, "start_time": row.start_time, "end_time": row.end_time,
        "job_dir": row.job_dir, "stdout_path": row.stdout_path, "source": row.source,
    }
    if full:
        data.update({"request": row.request, "plan": row.plan, "script": row.script})
    return data


def short_time(value: datetime | None, zone: Any = None) -> str:
    from core.jobtimes import local_time

    return local_time(value, zone, short=True) if value else "-"


def read_json_object(path: str, what: str, fix: str) -> dict[str, Any]:
    """A JSON file holding one object (a pipeline, a training spec); every problem is a ParseError
    naming the file, line and column."""
    from core.errors import ParseError

    try:
        text = open(path, encoding="utf-8").read()
    except OSError as exc:
        raise ParseError(f"cannot read the {what}: {exc.strerror}", source=path, line=1) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(exc.msg, source=path, line=exc.lineno, column=exc.colno, fix=fix) from None
    if not isinstance(doc, dict):
        raise ParseError(f"the {what} must hold a JSON object", source=path, line=1)
    return doc
