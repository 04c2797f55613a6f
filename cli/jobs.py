"""`hpcai submit/jobs/show/logs/kill/suspend/resume/tune`: the training-job commands.

Flags of `submit` are generated from the plugins' schemas. Heavy imports (the platform, the
store) happen inside the commands, so `--help` answers fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import PROG, dump_json, fast_read, guarded, job_dict, new_platform, table
from cli.remote import NO_CONFIG, client
from core.errors import ValidationError
from core.jobsread import own_jobs
from core.jobtimes import JobTimes, command_of, duration, job_times, local_time, site_zone
from core.types import JobState
from core.users import current_user

if TYPE_CHECKING:
    from core.platform import Platform

SELECTORS = ("framework", "mode", "runtime", "scheduler")


# --- submit: a parser built from the merged schema of the chosen plugins ----------------------

def _flag(name: str, prop: dict[str, Any]) -> str:
    return prop.get("x-cli") or "--" + name.replace("_", "-")


def schema_parser(schema: dict[str, Any]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"{PROG} submit", add_help=True,
                                description="Submit a training job. Flags come from the chosen "
                                            "framework, mode and runtime plugins.",
                                epilog="The run command may also follow `--`: "
                                       "hpcai submit ... -- python train.py --lr 0.1 (several words "
                                       "are quoted as argv; a single word is run as a shell line)")
    props = sorted(schema["properties"].items(), key=lambda kv: kv[1].get("x-order", 100))
    for name, prop in props:
        helptext = prop.get("title", name)
        if prop.get("description"):
            helptext += f": {prop['description']}"
        if "default" in prop and prop["default"] not in (None, [], {}):
            helptext += f" (default: {prop['default']})"
        if name in schema.get("required", []):
            helptext += " [required]"
        kind = prop.get("type")
        flag = _flag(name, prop)
        if name == "mounts":
            p.add_argument("--mount", dest=name, action="append", metavar="SRC[:MOUNT_POINT]", help=helptext)
        elif name == "env":
            p.add_argument("--env", dest=name, action="append", metavar="K=V[,K=V...]", help=helptext)
        elif kind == "boolean":
            p.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=helptext)
        elif kind == "integer":
            p.add_argument(flag, dest=name, type=_int(name), default=None, help=helptext,
                           metavar="N")
        elif kind == "number":
            p.add_argument(flag, dest=name, type=float, default=None, help=helptext)
        else:
            choices = prop.get("enum")
            p.add_argument(flag, dest=name, default=None, help=helptext,
                           metavar="{" + ",".join(choices) + "}" if choices else name.upper())
    p.add_argument("--dry-run", action="store_true", help="print the plan and the job script; submit nothing")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def _int(name: str):  # type: ignore[no-untyped-def]
    def conv(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}: '{text}' is not a whole number") from None

    return conv


@guarded(PROG)
def cmd_submit(argv: list[str]) -> int:
    flags, rest = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    pre = argparse.ArgumentParser(add_help=False)
    for sel in SELECTORS:
        pre.add_argument(f"--{sel}")
    known, _ = pre.parse_known_args(flags)
    from core.schema import is_visible

    remote = client()
    platform = new_platform() if remote is None else None
    schema = platform.jobs.form_schema(known.framework, known.mode, known.runtime) if platform else \
        remote.call("GET", "/schema", query={"framework": known.framework, "mode": known.mode,  # type: ignore[union-attr]
                                             "runtime": known.runtime})
    args = schema_parser(schema).parse_args(flags)
    values = {k: v for k, v in vars(args).items() if k not in ("dry_run", "json") and v is not None}
    if rest:
        if values.get("command"):
            raise ValidationError("given both as --command and after --", field="command",
                                  fix="give the run command once")
        # One word after `--` is a shell line (like the product's --cmd='...'); several are argv.
        values["command"] = rest[0] if len(rest) == 1 else " ".join(_shell_quote(a) for a in rest)
    if "env" in values:
        values["env"] = ",".join(values["env"])
    for name, value in list(values.items()):
        if not is_visible(schema["properties"].get(name, {}), values):
            raise ValidationError(f"does not apply to this choice of {', '.join(SELECTORS)}", field=name)
    if remote is not None:
        return _submit_remote(remote, values, args)
    assert platform is not None
    user = current_user()
    req = platform.jobs.request_from_values(values, user, source="cli")
    prep = platform.jobs.prepare(req)
    for warning in prep.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    if args.dry_run:
        if args.json:
            dump_json({"plan": _plain(prep.plan), "script": prep.script(), "job_dir": str(prep.job_dir),
                       "ports_needed": prep.ports_needed})
        else:
            print("# plan (ports are allocated at submission:", prep.ports_needed, "needed)")
            print(prep.plan.to_json())
            print("# job script")
            print(prep.script())
        return 0
    return _print_submitted(platform.jobs.submit_prepared(prep), args.json)


def _print_submitted(row: Any, as_json: bool) -> int:
    if as_json:
        dump_json(job_dict(row))
    else:
        print(f"Job {row.id} ({row.name}) submitted to {row.scheduler} as {row.scheduler_job_id}; "
              f"job directory {row.job_dir}")
    return 0


def _submit_remote(remote: Any, values: dict[str, Any], args: argparse.Namespace) -> int:
    """`hpcai submit` in a development environment: the same values, validated by the portal."""
    if args.dry_run:
        got = remote.call("POST", "/jobs", values, query={"dry_run": "1"})
        if args.json:
            dump_json(got)
        else:
            import json

            print("# plan (ports are allocated at submission:", got["ports_needed"], "needed)")
            print(json.dumps(got["plan"], indent=2))
            print("# job script")
            print(got["script"])
        return 0
    from cli.remote import row as remote_row

    return _print_submitted(remote_row(remote.call("POST", "/jobs", values)), args.json)


def _shell_quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _plain(plan: Any) -> Any:
    import json

    return json.loads(plan.to_json())


# --- jobs ------------------------------------------------------------------------------------

@guarded(PROG)
def cmd_jobs(args: argparse.Namespace) -> int:
    states = args.state.split(",") if args.state else None
    for s in states or []:
        if s not in {x.value for x in JobState}:
            raise ValidationError(f"'{s}' is not a job state", field="--state",
                                  fix="use " + ", ".join(x.value for x in JobState))
    remote = client()
    if remote is not None:
        config, found = NO_CONFIG, remote.jobs(args.all, states, args.framework, args.name, args.limit, args.offset)
    else:
        config, found = fast_read(lambda url: None if args.all else own_jobs(
            url, current_user(), states, args.framework, args.name, args.limit, args.offset))
    if found is None:
        platform = new_platform()
        platform.jobs.refresh()
        config = platform.config
        found = platform.jobs.list(current_user(), all_users=args.all, states=states, framework=args.framework,
                                   name=args.name, limit=args.limit, offset=args.offset)
    rows, total = found
    if args.json:
        dump_json({"total": total, "jobs": [job_dict(r) for r in rows]})
        return 0
    zone = site_zone(config.raw)
    table(["ID", "NAME", "USER", "STATE", "FRAMEWORK", "MODE", "SCHEDULER", "SCHED_ID", "SUBMITTED", "ELAPSED",
           "LIMIT"],
          [[r.id, r.name, r.user, r.state, r.framework or "-", r.mode, r.scheduler, r.scheduler_job_id,
            local_time(r.submit_time, zone, short=True), duration(t.elapsed_s),
            duration(t.time_limit_min * 60) if t.time_limit_min else "-"]
           for r in rows for t in [job_times(r)]])
    if total > len(rows):
        print(f"({len(rows)} of {total} shown; use --limit/--offset)")
    return 0


@guarded(PROG)
def cmd_show(args: argparse.Namespace) -> int:
    remote = client()
    if remote is not None:
        config, found = NO_CONFIG, ([remote.job(args.job)], 1)
    else:
        config, found = fast_read(lambda url: own_jobs(url, current_user(), job_id=int(args.job), limit=1)
                                   if args.job.isdigit() else None)
    if found and found[0]:
        row = found[0][0]
    else:  # not the caller's own job by id, or no watcher: the full path (and its error messages)
        platform = new_platform()
        platform.jobs.refresh()
        config = platform.config
        row = platform.jobs.get(args.job, current_user())
    times = job_times(row)
    if args.json:
        dump_json(job_dict(row, full=True) | {"times": times.as_dict(site_zone(config.raw)),
                                              "command": command_of(row)})
        return 0
    print_job(row, times, site_zone(config.raw))
    return 0


def print_job(row: Any, times: JobTimes, zone: Any) -> None:
    """`hpcai show`: what a Slurm user reads in `scontrol show job`, in words."""
    t = times.as_dict(zone)
    exit_code = "-" if row.exit_code is None else str(row.exit_code)
    lines = [
        ("Job", f"{row.id} ({row.name})"), ("User", row.user), ("State", row.state + (
            f" ({row.raw_state})" if row.raw_state else "")),
        ("Reason", row.reason or "-"), ("Exit code", exit_code),
        ("Framework / mode", f"{row.framework or '-'} / {row.mode}"),
        ("Runtime / image", f"{row.runtime} / {row.image or '-'}"),
        ("Scheduler", f"{row.scheduler} {row.scheduler_job_id or '-'}" + (f", queue {row.queue}" if row.queue else "")),
        ("Hosts", row.exec_hosts or "-"),
        ("Submitted", t["submitted"]), ("Started", t["started"]), ("Ended", t["ended"]),
        ("Waited", t["waited"]), ("Elapsed", t["elapsed"] + (" (running)" if times.live and times.started else "")),
        ("Time limit", t["time_limit"] + (f", {t['remaining']} left" if times.remaining_s is not None else "")),
        ("Command", command_of(row) or "-"), ("Job directory", row.job_dir), ("Output", row.stdout_path or "-"),
        ("Source", row.source),
    ]
    for key, value in lines:
        print(f"{key:17} {value}")


@guarded(PROG)
def cmd_logs(args: argparse.Namespace) -> int:
    from core.jobfiles import rank_log, rank_names

    remote = client()
    if remote is not None and not args.rank:
        return _logs_remote(remote, args)
    platform = new_platform() if remote is None else None
    if platform is not None:
        platform.jobs.refresh()
    row = platform.jobs.get(args.job, current_user()) if platform else remote.job(args.job)  # type: ignore[union-attr]
    if args.rank:
        ranks = rank_names(row.plan)
        if args.rank not in ranks:
            raise ValidationError(f"job {row.id} has no rank '{args.rank}'", field="--rank",
                                  fix="its ranks are " + (", ".join(ranks) or "none"))
        path = rank_log(row.job_dir, args.rank)
    else:
        path = Path(row.stdout_path or "")
    if not args.follow or platform is None:  # a rank's log, remote: the user's own file, as it is now
        if not path.is_file():
            raise ValidationError(f"job {row.id} has no log yet ({row.state})", field="job",
                                  fix="wait until it starts, or use -f to follow")
        sys.stdout.write(path.read_text(errors="replace"))
        return 0
    return _follow(platform, row.id, path)


def _logs_remote(remote: Any, args: argparse.Namespace) -> int:
    """`hpcai logs [-f]` through the portal's log API (offsets; -f polls until the job ends)."""
    row = remote.job(args.job)
    offset = 0
    while True:
        got = remote.log(row.id, offset)
        if got["text"]:
            sys.stdout.write(got["text"])
            sys.stdout.flush()
        offset = got["next_offset"]
        if not args.follow:
            if offset == 0 and not JobState(got["state"]).terminal and got["state"] != JobState.RUNNING.value:
                raise ValidationError(f"job {row.id} has no log yet ({got['state']})", field="job",
                                      fix="wait until it starts, or use -f to follow")
            return 0
        if got["text"]:
            continue  # more may be waiting: read on before asking for the state
        if JobState(got["state"]).terminal:
            row = remote.job(row.id)
            code = f", exit code {row.exit_code}" if row.exit_code is not None else ""
            print(f"{PROG}: job {row.id} {row.state}{code}", file=sys.stderr)
            return exit_status(row)
        time.sleep(0.5)


def exit_status(row: Any) -> int:
    """The job's outcome as a shell exit status: 0 succeeded, its exit code (else 1) failed,
    143 cancelled (terminated), 1 unknown."""
    if row.state == JobState.SUCCEEDED.value:
        return 0
    if row.state == JobState.CANCELLED.value:
        return 143
    return row.exit_code if isinstance(row.exit_code, int) and 0 < row.exit_code < 256 else 1


def _follow(platform: "Platform", job_id: int, path: Path) -> int:
    """Print the log as it grows; when the job ends, say how and exit with its status."""
    from core.jobsread import watcher_running

    pos = 0
    user = current_user()
    watched = watcher_running(platform.config.data_dir)
    while True:
        if path.is_file():
            with open(path, "rb") as f:
                f.seek(pos)
                chunk = f.read()
                pos += len(chunk)
            if chunk:
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
        if not watched:  # with a watcher running the store is current: no scheduler poll here
            platform.jobs.refresh()
        row = platform.jobs.get(job_id, user)
        if JobState(row.state).terminal:
            if path.is_file() and path.stat().st_size > pos:
                continue
            status = exit_status(row)
            code = f", exit code {row.exit_code}" if row.exit_code is not None else ""
            print(f"{PROG}: job {row.id} {row.state}{code}", file=sys.stderr)
            return status
        time.sleep(0.5)


def _control(action: str):  # type: ignore[no-untyped-def]
    @guarded(PROG)
    def run(args: argparse.Namespace) -> int:
        remote = client()
        if remote is not None:
            row = remote.action(remote.job(args.job).id, action)
            print(f"Job {row.id} ({row.name}): {row.state}")
            return 0
        platform = new_platform()
        row = getattr(platform.jobs, action)(args.job, current_user())
        print(f"Job {row.id} ({row.name}): {row.state}")
        return 0

    return run


# --- auto-tuning results --------------------------------------------------------------------------

@guarded(PROG)
def cmd_tune_show(args: argparse.Namespace) -> int:
    platform = new_platform()
    platform.jobs.refresh()
    rep = platform.jobs.option_report(args.job, current_user(), "autotune")
    if args.json:
        dump_json(rep)
        return 0
    job = rep["job"]
    print(f"study {rep['study']} (job {job['id']} {job['name']}, {job['state']}); "
          f"directions {', '.join(rep['directions'])}; source: {rep['source']}")
    for note in rep.get("notes", []):
        print(f"  mapping: {note}")
    print("trials: " + (", ".join(f"{k.lower()} {v}" for k, v in sorted(rep["counts"].items())) or "none yet"))
    names = rep["metric_names"]
    label = "Pareto front" if rep["pareto"] else "best"
    for b in rep["best"]:
        values = ", ".join(f"{k}={v:.6g}" for k, v in b["values"].items())
        print(f"{label}: trial {b['number']}: {values}; params {b['params']}")
    if rep["trials"]:
        params = sorted({k for t in rep["trials"] for k in t["params"]})
        rows = []
        for t in rep["trials"]:
            vals = [("-" if t["values"].get(n) is None else f"{t['values'][n]:.6g}") for n in names]
            rows.append([t["number"], t["state"], *vals, *[_short(t["params"].get(p)) for p in params],
                         "-" if t["duration_s"] is None else f"{t['duration_s']:.1f}",
                         "-" if t["last_step"] is None else t["last_step"]])
        table(["TRIAL", "STATE", *[n.upper() for n in names], *params, "SECONDS", "LAST_STEP"], rows)
    for plot in rep["plots"]:
        print(f"plot: {plot}")
    return 0


def _short(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)




# --- parsers (the command table in cli/main.py calls add_parser for the chosen command only) ---

def _jobs_parser(j: argparse.ArgumentParser) -> None:
    j.add_argument("--all", action="store_true", help="every user's jobs (admins)")
    j.add_argument("--state", help="comma-separated states: " + ",".join(s.value for s in JobState))
    j.add_argument("--framework")
    j.add_argument("--name", help="substring of the job name")
    j.add_argument("--limit", type=int, default=50)
    j.add_argument("--offset", type=int, default=0)
    j.add_argument("--json", action="store_true")
    j.set_defaults(func=cmd_jobs)


def _show_parser(s: argparse.ArgumentParser) -> None:
    s.add_argument("job")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)


def _logs_parser(lg: argparse.ArgumentParser) -> None:
    lg.add_argument("job")
    lg.add_argument("-f", "--follow", action="store_true",
                    help="follow the log until the job ends; the exit status is the job's")
    lg.add_argument("--rank", help="one rank's log, e.g. worker/1")
    lg.set_defaults(func=cmd_logs)


def _control_parser(action: str):  # type: ignore[no-untyped-def]
    def add(c: argparse.ArgumentParser) -> None:
        c.add_argument("job")
        c.set_defaults(func=_control(action))

    return add


def _tune_parser(tu: argparse.ArgumentParser) -> None:
    tu_sub = tu.add_subparsers(dest="tune_command", metavar="ACTION")
    ts = tu_sub.add_parser("show", help="a study's best trial(s), trial table and plot files")
    ts.add_argument("job", help="the job id (any worker job of a distributed study)")
    ts.add_argument("--json", action="store_true")
    ts.set_defaults(func=cmd_tune_show)


PARSERS = {"jobs": _jobs_parser, "show": _show_parser, "logs": _logs_parser, "tune": _tune_parser,
           "kill": _control_parser("kill"), "suspend": _control_parser("suspend"),
           "resume": _control_parser("resume")}
