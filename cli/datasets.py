"""`hpcai datasets`: my and shared datasets (the portal's Datasets page) from the shell."""

from __future__ import annotations

import argparse

from cli.common import dump_json, guarded, new_platform, table
from core.users import current_user

PROG = "hpcai"


@guarded(PROG)
def cmd_list(args: argparse.Namespace) -> int:
    svc = new_platform().datasets
    user = current_user()
    infos = [svc.info(r, user) for r in svc.list(user, area=args.area, category=args.category,
                                                   backend=args.backend, all_users=args.all)]
    if args.json:
        dump_json({"datasets": infos})
        return 0
    table(["ID", "NAME", "AREA", "CATEGORY", "BACKEND", "OWNER", "STATE", "DESCRIPTION"],
          [[d["id"], d["name"], d["area"], d["category"], d["backend"], d["owner"], d["state"] or "-",
            (d["description"] or "")[:40]] for d in infos])
    return 0


@guarded(PROG)
def cmd_show(args: argparse.Namespace) -> int:
    svc = new_platform().datasets
    user = current_user()
    info = svc.info(svc.get(user, args.dataset), user)
    if args.json:
        dump_json(info)
        return 0
    for key, value in info.items():
        if key != "options":
            print(f"{key:17} {'-' if value in (None, '', []) else value}")
    for key, value in info["options"].items():
        print(f"  {key:15} {value}")
    return 0


def _parser(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="datasets_command", metavar="ACTION")
    ls = sub.add_parser("list", help="the datasets you may see")
    ls.add_argument("--area", choices=["my", "shared"])
    ls.add_argument("--category", help="numeric, image, video, audio, text or other")
    ls.add_argument("--backend", help="files, postgresql, mysql, hdfs ...")
    ls.add_argument("--all", action="store_true", help="every user's datasets (admins)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    sh = sub.add_parser("show", help="one dataset (never its secrets)")
    sh.add_argument("dataset", help="its name or id")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=cmd_show)
    p.set_defaults(func=cmd_list, area=None, category=None, backend=None, all=False, json=False)


PARSERS = {"datasets": _parser}
