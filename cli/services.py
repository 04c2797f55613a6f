"""`hpcai services`: the user's services (TensorBoard, model servers ...) from the shell."""

from __future__ import annotations

import argparse

from cli.common import dump_json, guarded, new_platform, table
from core.users import current_user

PROG = "hpcai"


@guarded(PROG)
def cmd_list(args: argparse.Namespace) -> int:
    mgr = new_platform().services
    views = [mgr.view(r) for r in mgr.list(current_user(), all_users=args.all, search=args.search or "")]
    if args.json:
        dump_json({"services": [v.as_dict() for v in views]})
        return 0
    table(["ALIAS", "NAME", "TYPE", "OWNER", "STATE", "JOB", "NODE", "PORT", "URL"],
          [[v.alias, v.name, v.type, v.user, v.state, v.job_id or "-", v.node or "-", v.port or "-",
            v.external_path or "-"] for v in views])
    return 0


@guarded(PROG)
def cmd_show(args: argparse.Namespace) -> int:
    mgr = new_platform().services
    view = mgr.view(mgr.get(args.service, current_user()))
    if args.json:
        dump_json(view.as_dict())
        return 0
    data = view.as_dict()
    for key in ("alias", "name", "type", "user", "state", "reason", "job_id", "scheduler_job_id", "node",
                "port", "external_path", "command", "log_file", "created_at"):
        print(f"{key:17} {'-' if data.get(key) in (None, '') else data[key]}")
    for line in view.log_tail[-10:]:
        print(f"  | {line}")
    return 0


def _lifecycle(action: str):  # type: ignore[no-untyped-def]
    @guarded(PROG)
    def run(args: argparse.Namespace) -> int:
        mgr = new_platform().services
        row = getattr(mgr, action)(args.service, current_user())
        print(f"Service {row.alias} ({row.name}): {mgr.state(row)}")
        return 0

    return run


def _parser(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="services_command", metavar="ACTION")
    ls = sub.add_parser("list", help="your services (admins: --all)")
    ls.add_argument("--all", action="store_true", help="every user's services (admins)")
    ls.add_argument("--search", help="part of a name or alias")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    sh = sub.add_parser("show", help="one service: state, node, port, address, last log lines")
    sh.add_argument("service", help="its alias or id")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=cmd_show)
    for action in ("start", "stop", "restart"):
        c = sub.add_parser(action, help=f"{action} a service")
        c.add_argument("service", help="its alias or id")
        c.set_defaults(func=_lifecycle(action))
    p.set_defaults(func=cmd_list, all=False, search=None, json=False)


PARSERS = {"services": _parser}
