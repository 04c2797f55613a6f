"""The product's LSF-style shells: jsub, jjobs, jkill, jstop, jresume.

They speak LSF (job ids are the scheduler's, states PEND/RUN/SSUSP/DONE/EXIT) but submit and
control through the same core as `hpcai`, so a job submitted one way is seen the other way.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from typing import TYPE_CHECKING, Any

from cli.common import fast_read, guarded, short_time
from cli.remote import NO_CONFIG, client
from core.errors import ValidationError
from core.types import JobState
from core.users import current_user

if TYPE_CHECKING:
    from core.store import JobRow


def Platform() -> Any:  # noqa: N802 - imported on first use: jjobs answers without it when it can
    from core.platform import Platform as _Platform

    return _Platform()

LSF_STATES = {
    JobState.QUEUED: "PEND", JobState.RUNNING: "RUN", JobState.SUSPENDED: "SSUSP",
    JobState.SUCCEEDED: "DONE", JobState.FAILED: "EXIT", JobState.CANCELLED: "EXIT",
    JobState.UNKNOWN: "UNKWN",
}


@guarded("jsub")
def jsub_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="jsub", description="Submit an LSF-style batch script: "
                                "jsub < job.sub, or jsub job.sub")
    p.add_argument("script", nargs="?", help="the .sub file (default: read standard input)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.script:
        path = Path(args.script)
        if not path.is_file():
            raise ValidationError(f"{path} does not exist", field="script", fix="give the path of your .sub file")
        text, source = path.read_text(), str(path)
    else:
        if sys.stdin.isatty():
            raise ValidationError("no script given", field="script", fix="use jsub < job.sub or jsub job.sub")
        text, source = sys.stdin.read(), "<stdin>"
    if not text.strip():
        raise ValidationError("the batch script is empty", field="script")
    from core.batchscript import join_dangling_options
    from core.bsubjob import request_from_script

    for line in join_dangling_options(text)[1]:
        print(f"jsub: note: {source}:{line}: joined this --option line onto the jairun call above "
              "(it had no trailing backslash)", file=sys.stderr)
    req = request_from_script(text, current_user(), Path.cwd(), source, os.environ)
    remote = client()
    if remote is not None:  # in a development environment: through the portal (cli/remote.py)
        from core.bsubjob import request_to_wire

        row = remote.submit_batch(request_to_wire(req))
    else:
        row = Platform().jobs.submit(req)
    print(f"Job <{row.scheduler_job_id}> is submitted to queue <{row.queue or 'normal'}>.")
    return 0


def _exec_host(row: "JobRow") -> str:
    if not row.exec_hosts:
        return ""
    slots = sum(r["replicas"] * r["request"]["cpus"] for r in row.plan.get("roles", [])) or 1
    return f"{slots}*{row.exec_hosts}" if slots > 1 else row.exec_hosts


def _trunc(text: str, width: int) -> str:
    return text if len(text) <= width else "*" + text[-(width - 1):]


@guarded("jjobs")
def jjobs_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="jjobs", description="List jobs with the product's columns")
    p.add_argument("-a", action="store_true", help="also finished jobs")
    p.add_argument("-u", metavar="USER", help="'all' for every user's jobs (admins)")
    p.add_argument("-w", action="store_true", help="wide: do not truncate")
    p.add_argument("jobids", nargs="*")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    user = current_user()
    live = None if args.a or args.jobids else [s.value for s in (JobState.QUEUED, JobState.RUNNING,
                                                                  JobState.SUSPENDED, JobState.UNKNOWN)]
    from core.jobsread import own_jobs
    from core.jobtimes import site_zone

    remote = client()
    if remote is not None:
        config, found = NO_CONFIG, remote.jobs(all_users=args.u == "all", states=live, limit=1000)
    else:
        config, found = fast_read(lambda url: None if args.u == "all" else own_jobs(url, user, live, limit=1000))
    if found is None:
        platform = Platform()
        platform.jobs.refresh()
        config = platform.config
        found = platform.jobs.list(user, all_users=args.u == "all", states=live, limit=1000)
    rows, zone = found[0], site_zone(config.raw)
    if args.jobids:
        rows = [r for r in rows if r.scheduler_job_id in args.jobids]
        if not rows:
            print(f"Job <{args.jobids[0]}> is not found", file=sys.stderr)
            return 255
    if not rows:
        print("No unfinished job found")
        return 0
    w = (lambda t, n: t) if args.w else _trunc
    fmt = "{:<7} {:<7} {:<5} {:<10} {:<11} {:<11} {:<10} {}"
    print(fmt.format("JOBID", "USER", "STAT", "QUEUE", "FROM_HOST", "EXEC_HOST", "JOB_NAME", "SUBMIT_TIME"))
    for r in sorted(rows, key=lambda r: r.id):
        print(fmt.format(r.scheduler_job_id or "-", w(r.user, 7), LSF_STATES[JobState(r.state)],
                         w(r.queue or "normal", 10), w(r.from_host or "", 11), w(_exec_host(r), 11),
                         w(r.name, 10), short_time(r.submit_time, zone)))
    return 0


def _control(prog: str, action: str, done: str):  # type: ignore[no-untyped-def]
    @guarded(prog)
    def main(argv: list[str] | None = None) -> int:
        p = argparse.ArgumentParser(prog=prog, description=f"{action} jobs by job ID")
        p.add_argument("jobids", nargs="+")
        args = p.parse_args(sys.argv[1:] if argv is None else argv)
        remote = client()
        if remote is not None:
            for jid in args.jobids:
                remote.action(remote.by_scheduler_id(jid).id, action)
                print(f"Job <{jid}> {done}")
            return 0
        platform = Platform()
        user = current_user()
        for jid in args.jobids:
            row = platform.jobs.get_by_scheduler_id(jid, user)
            getattr(platform.jobs, action)(row.id, user)
            print(f"Job <{jid}> {done}")
        return 0

    return main


jkill_main = _control("jkill", "kill", "is being terminated")
jstop_main = _control("jstop", "suspend", "is being stopped")
jresume_main = _control("jresume", "resume", "is being resumed")
