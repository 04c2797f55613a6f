"""`hpcai rl`: reinforcement learning.

    hpcai rl envs ...                              simulation environments (spec 04 §1)
    hpcai rl train SPEC.json [--spec cpu-2] [--wait]  an RLlib training run as a scheduler job
    hpcai rl result RUN [--json]                   what a run wrote: result, metrics per iteration

Thin shell: every rule is core.rl's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cli.common import dump_json, guarded, new_platform, read_json_object, table
from core.rl.runs import TrainSettings
from core.users import current_user

PROG = "hpcai"


@guarded(PROG)
def cmd_envs_list(args: argparse.Namespace) -> int:
    e = new_platform().rl_envs
    rows = [e.as_dict(r) for r in e.list(current_user())]
    if args.json:
        dump_json({"environments": rows})
        return 0
    table(["NAME", "MODE", "PORTS", "RUN MODE", "START", "OWNER", "DESCRIPTION"],
          [[r["name"], r["install_mode"], r["ports"] or "-", r["run_mode"],
            r["start_member"] or ("python built-in" if r["python_builtin"] else r["start_path"]),
            r["owner"], r["description"] or "-"] for r in rows])
    return 0


@guarded(PROG)
def cmd_envs_show(args: argparse.Namespace) -> int:
    e = new_platform().rl_envs
    me = current_user()
    data = e.as_dict(e.get(me, args.name))
    data["simulator"] = e.resolve(me, args.name) if data["owner"] == me else None  # what a run of yours gets
    if args.json:
        dump_json(data)
        return 0
    for key, value in data.items():
        if key != "simulator":
            print(f"{key:18} {'-' if value in (None, '') else value}")
    return 0


@guarded(PROG)
def cmd_envs_create(args: argparse.Namespace) -> int:
    e = new_platform().rl_envs
    values = {"name": args.name, "install_mode": "installed" if args.installed else "green",
              "archive": str(Path(args.archive).absolute()) if args.archive else None,
              "start_file": args.start_file, "python_builtin": args.python_builtin, "start_path": args.start_path,
              "run_mode": args.run_mode, "ports": args.ports, "classification": args.classification,
              "description": args.description, "os": args.os}
    row = e.create(current_user(), {k: v for k, v in values.items() if v not in (None, "")})
    print(f"Simulation environment {row.name} registered ({row.install_mode})")
    return 0


@guarded(PROG)
def cmd_envs_delete(args: argparse.Namespace) -> int:
    new_platform().rl_envs.delete(current_user(), args.name)
    print(f"Simulation environment {args.name} deleted")
    return 0


def _envs(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="rl_envs_command", metavar="ACTION")
    ls = sub.add_parser("list", help="your simulation environments")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_envs_list)
    sh = sub.add_parser("show", help="one simulation environment, and the simulator a run of yours gets")
    sh.add_argument("name")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=cmd_envs_show)
    cr = sub.add_parser("create", help="register a green package (default) or an installed environment")
    cr.add_argument("name", help="unique among simulation environments")
    cr.add_argument("--archive", help="green package: .zip, .tar, .tar.gz, .tar.bz2 or .tar.xz on the server")
    cr.add_argument("--start-file", dest="start_file",
                    help="green package: the launcher inside it (.sh .bat .cmd .exe)")
    cr.add_argument("--installed", action="store_true", help="an installed environment instead of a green package")
    cr.add_argument("--python-builtin", dest="python_builtin", action="store_true",
                    help="installed: a Python class given later by the custom development template")
    cr.add_argument("--start-path", dest="start_path", help="installed: the launcher's absolute path")
    cr.add_argument("--os", help="installed: operating system (Linux)")
    cr.add_argument("--run-mode", dest="run_mode", help="non-exclusive (default) or exclusive")
    cr.add_argument("--ports", help="ports the simulator needs, 1-5")
    cr.add_argument("--classification", help="security classification (default confidential, where enabled)")
    cr.add_argument("--description")
    cr.set_defaults(func=cmd_envs_create)
    rm = sub.add_parser("delete", help="delete a simulation environment (an uploaded package goes with it)")
    rm.add_argument("name")
    rm.set_defaults(func=cmd_envs_delete)
    p.set_defaults(func=cmd_envs_list, json=False)


def _read_spec(path: str) -> dict:
    return read_json_object(path, "training spec", "the training spec must be JSON")


@guarded(PROG)
def cmd_train(args: argparse.Namespace) -> int:
    p = new_platform()
    me = current_user()
    run = p.rl_runs.submit(me, _read_spec(args.file),
                           TrainSettings(args.spec, args.scheduler, args.queue, name=args.name))
    print(f"RL run {run['uuid']} submitted as job {run['job_id']} ({run['ports']} ports for its Ray cluster); "
          f"data in {run['run_dir']}")
    if not args.wait:
        return 0
    while True:
        p.jobs.refresh()
        job = p.jobs.get(run["job_id"], me)
        if job.state in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(1)
    if job.stdout_path and Path(job.stdout_path).is_file():
        sys.stdout.write(Path(job.stdout_path).read_text(errors="replace")[-64 * 1024:])
    result = p.rl_runs.result(me, run["uuid"])["result"] or {}
    print(f"RL run {run['uuid']}: {job.state}" + (
        f"; {result.get('iterations')} iterations, mean reward {result.get('mean_reward')}" if result else ""))
    return 0 if job.state == "succeeded" else 1


@guarded(PROG)
def cmd_result(args: argparse.Namespace) -> int:
    data = new_platform().rl_runs.result(current_user(), args.run)
    if args.json:
        dump_json(data)
        return 0
    print(f"run_dir            {data['run_dir']}")
    for key, value in (data["result"] or {"state": "no result yet (running, or failed: see the job log)"}).items():
        print(f"{key:18} {value}")
    table(["ITER", "MEAN REWARD", "ENV STEPS", "EPISODES"],
          [[m.get("iteration", i + 1), m.get("mean_reward", "-"), m.get("env_steps", "-"), m.get("episodes", "-")]
           for i, m in enumerate(data["iterations"])])
    return 0


def _parser(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="rl_command", metavar="AREA")
    _envs(sub.add_parser("envs", help="simulation environments: list, show, create, delete"))
    tr = sub.add_parser("train", help="train an RLlib algorithm from a training spec, as a scheduler job")
    tr.add_argument("file", help="the training spec (JSON: algorithm, env, params, stop, env_runners)")
    tr.add_argument("--spec", default="cpu-1", help="resource spec (default cpu-1)")
    tr.add_argument("--scheduler")
    tr.add_argument("--queue")
    tr.add_argument("--name", help="the job's name (default rl-<algorithm>-<environment>)")
    tr.add_argument("--wait", action="store_true", help="wait for the end, print the log and the result")
    tr.set_defaults(func=cmd_train)
    rs = sub.add_parser("result", help="what an RL run wrote: its result and metrics per iteration")
    rs.add_argument("run", help="the run id `hpcai rl train` printed")
    rs.add_argument("--json", action="store_true")
    rs.set_defaults(func=cmd_result)


PARSERS = {"rl": _parser}
