"""`hpcai`: the command-line shell. Flags of `submit` are generated from the plugins' schemas."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from cli.common import dump_json, guarded, job_dict, short_time, table
from core import __version__, tracking
from core.errors import ValidationError
from core.platform import Platform
from core.schema import is_visible
from core.types import JobState
from core.users import current_user, groups_of, is_admin

PROG = "hpcai"
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
    platform = Platform()
    schema = platform.jobs.form_schema(known.framework, known.mode, known.runtime)
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
    row = platform.jobs.submit_prepared(prep)
    if args.json:
        dump_json(job_dict(row))
    else:
        print(f"Job {row.id} ({row.name}) submitted to {row.scheduler} as {row.scheduler_job_id}; "
              f"job directory {row.job_dir}")
    return 0


def _shell_quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _plain(plan: Any) -> Any:
    import json

    return json.loads(plan.to_json())


# --- jobs ------------------------------------------------------------------------------------

@guarded(PROG)
def cmd_jobs(args: argparse.Namespace) -> int:
    platform = Platform()
    platform.jobs.refresh()
    states = args.state.split(",") if args.state else None
    for s in states or []:
        if s not in {x.value for x in JobState}:
            raise ValidationError(f"'{s}' is not a job state", field="--state",
                                  fix="use " + ", ".join(x.value for x in JobState))
    rows, total = platform.jobs.list(current_user(), all_users=args.all, states=states,
                                     framework=args.framework, name=args.name,
                                     limit=args.limit, offset=args.offset)
    if args.json:
        dump_json({"total": total, "jobs": [job_dict(r) for r in rows]})
        return 0
    table(["ID", "NAME", "USER", "STATE", "FRAMEWORK", "MODE", "SCHEDULER", "SCHED_ID", "SUBMITTED"],
          [[r.id, r.name, r.user, r.state, r.framework or "-", r.mode, r.scheduler,
            r.scheduler_job_id, short_time(r.submit_time)] for r in rows])
    if total > len(rows):
        print(f"({len(rows)} of {total} shown; use --limit/--offset)")
    return 0


@guarded(PROG)
def cmd_show(args: argparse.Namespace) -> int:
    platform = Platform()
    platform.jobs.refresh()
    row = platform.jobs.get(args.job, current_user())
    if args.json:
        dump_json(job_dict(row, full=True))
        return 0
    for k, v in job_dict(row).items():
        print(f"{k:17} {short_time(v) if k.endswith('_time') else ('' if v is None else v)}")
    return 0


@guarded(PROG)
def cmd_logs(args: argparse.Namespace) -> int:
    platform = Platform()
    platform.jobs.refresh()
    row = platform.jobs.get(args.job, current_user())
    path = Path(row.job_dir, "logs", args.rank.replace("/", ".") + ".log") if args.rank else \
        Path(row.stdout_path or "")
    if not args.follow:
        if not path.exists():
            raise ValidationError(f"job {row.id} has no log yet ({row.state})", field="job",
                                  fix="wait until it starts, or use -f to follow")
        sys.stdout.write(path.read_text(errors="replace"))
        return 0
    return _follow(platform, row.id, path)


def _follow(platform: Platform, job_id: int, path: Path) -> int:
    pos = 0
    user = current_user()
    while True:
        if path.exists():
            with open(path, "rb") as f:
                f.seek(pos)
                chunk = f.read()
                pos += len(chunk)
            if chunk:
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
        platform.jobs.refresh()
        row = platform.jobs.get(job_id, user)
        if JobState(row.state).terminal:
            if path.exists() and path.stat().st_size > pos:
                continue
            return 0
        time.sleep(0.5)


def _control(action: str):  # type: ignore[no-untyped-def]
    @guarded(PROG)
    def run(args: argparse.Namespace) -> int:
        platform = Platform()
        row = getattr(platform.jobs, action)(args.job, current_user())
        print(f"Job {row.id} ({row.name}): {row.state}")
        return 0

    return run


# --- auto-tuning results --------------------------------------------------------------------------

@guarded(PROG)
def cmd_tune_show(args: argparse.Namespace) -> int:
    platform = Platform()
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


# --- catalogs --------------------------------------------------------------------------------

@guarded(PROG)
def cmd_plugins(args: argparse.Namespace) -> int:
    platform = Platform()
    reg = platform.registry
    infos = reg.list(args.kind)
    if args.kind and args.kind not in {"scheduler", "framework", "mode", "runtime", "option"} and not infos:
        raise ValidationError(f"unknown plugin kind '{args.kind}'", field="--kind",
                              fix="use scheduler, framework, mode, runtime or option")
    if args.json:
        dump_json({"plugins": [i.as_dict() for i in infos], "errors": reg.load_errors})
        return 0
    table(["KIND", "NAME", "PLUGIN", "DISTRIBUTION", "VERSION", "ENABLED", "FIELDS", "NOTE"],
          [[i.kind, i.name, i.plugin, i.distribution, i.version, "yes" if i.enabled else "no",
            ",".join(i.descriptor.option_schema().get("properties", {})) or "-", i.note or ""]
           for i in infos])
    for err in reg.load_errors:
        print(f"warning: {err}", file=sys.stderr)
    return 0


@guarded(PROG)
def cmd_specs(args: argparse.Namespace) -> int:
    platform = Platform()
    user = current_user()
    specs = platform.specs.all() if args.all and is_admin(user) else platform.specs.visible(user, groups_of(user))
    if args.json:
        from dataclasses import asdict

        dump_json({"specs": [asdict(s) | {"label": s.label()} for s in specs]})
        return 0
    table(["NAME", "TYPE", "CPUS", "MEM_MB", "GPUS", "GPU_MODE", "GPU_TYPE", "NODE_GROUP", "VISIBLE_TO"],
          [[s.name, s.kind.upper(), s.cpus, s.mem_mb or "-", s.gpus, s.gpu_mode or "-",
            s.gpu_type or "any", s.node_group or "all",
            ",".join(s.visible_users + [f"@{g}" for g in s.visible_groups]) or "everyone"] for s in specs])
    return 0


@guarded(PROG)
def cmd_unlock(args: argparse.Namespace) -> int:
    """Lift a portal log-in lock (too many failed log-ins) from the head node's shell."""
    from core.errors import PermissionDenied

    if not is_admin(current_user()):
        raise PermissionDenied("only root or members of hpcai-admin may unlock accounts", field="user")
    accounts = Platform().accounts
    accounts.get(args.user)
    accounts.throttle.unlock(args.user)
    print(f"{args.user} may log in again")
    return 0


@guarded(PROG)
def cmd_images(args: argparse.Namespace) -> int:
    platform = Platform()
    images = platform.images.tagged(args.tag)
    if args.json:
        from dataclasses import asdict

        dump_json({"images": [asdict(i) for i in images]})
        return 0
    from core.envbuild import is_built

    table(["NAME", "RUNTIME", "TAGS", "BUILT", "ALIASES", "REFERENCE"],
          [[i.name, i.runtime, ",".join(i.tags),
            ("yes" if is_built(i.reference) else "no") if i.build else "-",
            ",".join(i.aliases), i.reference] for i in images])
    return 0


@guarded(PROG)
def cmd_images_build(args: argparse.Namespace) -> int:
    platform = Platform()
    for name in args.names:
        result = platform.images.build(name, force=args.force,
                                       log=lambda line: print(f"  {line}", file=sys.stderr))
        state = f"built in {result.seconds:.0f} s" if result.built else "up to date"
        print(f"{result.image}: {state} ({result.prefix})")
    return 0


def cmd_profile(_args: argparse.Namespace) -> int:
    """Shell lines that make the product's #BSUB scripts work unchanged (eval "$(hpcai profile)")."""
    from core.jobs import SOURCE_ROOT

    top = SOURCE_ROOT / "hooks" / "jhscheduler"
    bindir = Path(sys.argv[0]).resolve().parent if os.path.basename(sys.argv[0]) == "hpcai" \
        else Path(sys.executable).parent
    print(f"export JHSCHEDULER_TOP={top}")
    print(f"export HPCAI_BIN={bindir}")
    print(f"export HPCAI_PYTHON={sys.executable}")
    print("source ${JHSCHEDULER_TOP}/etc/profile.unischeduler")
    return 0


@guarded(PROG)
def cmd_mlflow(args: argparse.Namespace) -> int:
    """Start the tracking server, say where it is once healthy, and run until interrupted."""
    settings = tracking.settings_from_config(Platform().config)
    if args.host or args.port:
        settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    if args.status:
        info = tracking.describe(settings)
        dump_json(info)
        return 0 if info["healthy"] else 1
    server = tracking.start_server(settings, wait_s=args.wait)
    if not server.owned:
        print(f"MLflow is already running at {server.url}")
        return 0
    print(f"MLflow tracking server ready at {server.url} (store {settings.backend_store_uri}, "
          f"artifacts {settings.artifacts_destination}, log {settings.log_file})", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        server.stop()


# --- the parser --------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="hpcai: an open, plugin-based AI platform for HPC clusters")
    p.add_argument("--version", action="version", version=f"hpcai {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("submit", help="submit a training job (hpcai submit --framework F --help for its flags)",
                   add_help=False)

    j = sub.add_parser("jobs", help="list jobs")
    j.add_argument("--all", action="store_true", help="every user's jobs (admins)")
    j.add_argument("--state", help="comma-separated states: " + ",".join(s.value for s in JobState))
    j.add_argument("--framework")
    j.add_argument("--name", help="substring of the job name")
    j.add_argument("--limit", type=int, default=50)
    j.add_argument("--offset", type=int, default=0)
    j.add_argument("--json", action="store_true")
    j.set_defaults(func=cmd_jobs)

    s = sub.add_parser("show", help="show one job")
    s.add_argument("job")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    lg = sub.add_parser("logs", help="print a job's output")
    lg.add_argument("job")
    lg.add_argument("-f", "--follow", action="store_true", help="follow the log until the job ends")
    lg.add_argument("--rank", help="one rank's log, e.g. worker/1")
    lg.set_defaults(func=cmd_logs)

    for action, verb in (("kill", "kill"), ("suspend", "suspend"), ("resume", "resume")):
        c = sub.add_parser(action, help=f"{verb} a job")
        c.add_argument("job")
        c.set_defaults(func=_control(action))

    tu = sub.add_parser("tune", help="auto-tuning studies")
    tu_sub = tu.add_subparsers(dest="tune_command", metavar="ACTION")
    ts = tu_sub.add_parser("show", help="a study's best trial(s), trial table and plot files")
    ts.add_argument("job", help="the job id (any worker job of a distributed study)")
    ts.add_argument("--json", action="store_true")
    ts.set_defaults(func=cmd_tune_show)

    pl = sub.add_parser("plugins", help="list installed plugins and their option schemas")
    pl.add_argument("--kind", help="scheduler, framework, mode, runtime or option")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_plugins)

    sp = sub.add_parser("specs", help="list the resource specs you may use")
    sp.add_argument("--all", action="store_true", help="every spec (admins)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_specs)

    ul = sub.add_parser("unlock", help="let a portal account locked by failed log-ins log in again (admins)")
    ul.add_argument("user")
    ul.set_defaults(func=cmd_unlock)

    im = sub.add_parser("images", help="the image catalog")
    im_sub = im.add_subparsers(dest="images_command", metavar="ACTION")
    il = im_sub.add_parser("list", help="list images")
    il.add_argument("--tag")
    il.add_argument("--json", action="store_true")
    il.set_defaults(func=cmd_images)
    ib = im_sub.add_parser("build", help="build the Python environment of a catalog image from its pinned spec "
                                                    "(every image also gets libaiflow and the MLflow client)")
    ib.add_argument("names", nargs="+", metavar="NAME")
    ib.add_argument("--force", action="store_true", help="rebuild even when the environment exists")
    ib.set_defaults(func=cmd_images_build)

    pr = sub.add_parser("profile", help="shell lines for the product's #BSUB scripts (eval \"$(hpcai profile)\")")
    pr.set_defaults(func=cmd_profile)

    sv = sub.add_parser("serve", help="run the web portal and the scheduler watcher")
    sv.add_argument("--host", default=os.environ.get("HPCAI_PORTAL_HOST", "127.0.0.1"),
                    help="address to bind (default 127.0.0.1; the portal has no TLS of its own)")
    sv.add_argument("--port", type=int, default=int(os.environ.get("HPCAI_PORTAL_PORT", "8080")))
    sv.add_argument("--workers", type=int, default=1,
                    help="gunicorn worker processes (default 1; one watcher whatever the number)")
    sv.add_argument("--threads", type=int, default=64,
                    help="threads per worker (default 64; an open log stream or WebSocket holds one each)")
    sv.add_argument("--no-watch", action="store_true", help="do not run the scheduler watcher in this process")
    sv.set_defaults(func=cmd_serve)

    ml = sub.add_parser("mlflow", help="run the managed MLflow tracking server ([tracking] of etc/hpcai.toml)")
    ml.add_argument("--host", help="address to listen on (default from [tracking])")
    ml.add_argument("--port", type=int, help="port to listen on (default from [tracking])")
    ml.add_argument("--wait", type=float, metavar="SECONDS", help="longest wait for /health at start")
    ml.add_argument("--status", action="store_true", help="print the settings and whether the server answers")
    ml.set_defaults(func=cmd_mlflow)
    return p


@guarded(PROG)
def cmd_serve(args: argparse.Namespace) -> int:
    from portal.server import serve

    if args.workers < 1 or args.threads < 1:
        print("hpcai serve: --workers and --threads must be at least 1", file=sys.stderr)
        return 2
    return serve(args.host, args.port, threads=args.threads, watch=not args.no_watch, workers=args.workers)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "submit":
        return cmd_submit(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
