"""`hpcai experiments`: experiments you may see and their runs, read from the tracking server
through the platform (MLflow itself has no access control)."""

from __future__ import annotations

import argparse

from cli.common import dump_json, guarded, new_platform, table
from core.users import current_user

PROG = "hpcai"


@guarded(PROG)
def cmd_list(args: argparse.Namespace) -> int:
    from core.jobtimes import local_time, site_zone

    p = new_platform()
    exps = p.experiments.list_experiments(current_user())
    if args.json:
        dump_json({"experiments": [{"experiment_id": e.experiment_id, "name": e.name, "owner": e.owner,
                                    "group": e.group, "creation_time": e.creation_time,
                                    "last_update_time": e.last_update_time} for e in exps]})
        return 0
    zone = site_zone(p.config.raw)
    table(["ID", "NAME", "OWNER", "SHARED_WITH", "CREATED", "UPDATED"],
          [[e.experiment_id, e.name, e.owner or "-", e.group or "-", local_time(e.creation_time, zone, True),
            local_time(e.last_update_time, zone, True)] for e in exps])
    return 0


@guarded(PROG)
def cmd_runs(args: argparse.Namespace) -> int:
    from core.jobtimes import duration, local_time, site_zone

    p = new_platform()
    user = current_user()
    exp = p.experiments.get_experiment(args.experiment, user)
    rows = p.experiments.experiment_runs(exp.experiment_id, user, args.search or "")
    if args.json:
        dump_json({"experiment": exp.experiment_id, "runs": [r.as_dict() for r in rows]})
        return 0
    metrics = sorted({k for r in rows for k in r.metrics})
    zone = site_zone(p.config.raw)
    table(["RUN_ID", "NAME", "STATUS", "JOB", "STARTED", "DURATION", *[m.upper() for m in metrics]],
          [[r.run_id, r.run_name or "-", r.status, r.job_id or "-", local_time(r.start_time, zone, True),
            duration(r.duration_s), *[f"{r.metrics[m]:.6g}" if m in r.metrics else "-" for m in metrics]]
           for r in rows])
    return 0


def _parser(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="experiments_command", metavar="ACTION")
    ls = sub.add_parser("list", help="the experiments you may see")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    rn = sub.add_parser("runs", help="an experiment's runs with their metrics")
    rn.add_argument("experiment", help="its id (see hpcai experiments list)")
    rn.add_argument("--search", help="an MLflow filter, e.g. \"metrics.rmse < 0.8 and params.alpha = '0.5'\"")
    rn.add_argument("--json", action="store_true")
    rn.set_defaults(func=cmd_runs)
    p.set_defaults(func=cmd_list, json=False)


PARSERS = {"experiments": _parser}
