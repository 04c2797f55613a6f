"""`hpcai labeling`: labeling tasks from the shell (list, show, the data list, create, end,
export). A thin shell over core.labeling, as the portal is; the caller is the Unix user."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cli.common import dump_json, guarded, table
from core.platform import Platform
from core.users import current_user

PROG = "hpcai labeling"


@guarded(PROG)
def cmd_list(args: argparse.Namespace) -> int:
    svc, me = Platform().labeling, current_user()
    infos = [svc.info(t, me) for t in svc.list(me)]
    if args.json:
        dump_json(infos)
        return 0
    table(["ID", "NAME", "DATASET", "TYPE", "TEMPLATE", "STATE", "LABELED", "ROLES"],
          [[i["id"], i["name"], i["dataset"], i["mode"], i["template"], i["state"],
            f"{i['labeled']}/{i['items']}", ",".join(i["roles"])] for i in infos])
    return 0


@guarded(PROG)
def cmd_show(args: argparse.Namespace) -> int:
    svc, me = Platform().labeling, current_user()
    task = svc.get(me, args.task)
    dump_json({**svc.info(task, me), "subtasks": svc.subtasks(me, task.id)})
    return 0


@guarded(PROG)
def cmd_items(args: argparse.Namespace) -> int:
    svc, me = Platform().labeling, current_user()
    page = svc.items(me, args.task, status=args.status, name=args.name, subtask=args.subtask,
                     after=args.after, limit=args.limit)
    if args.json:
        dump_json({"items": page.items, "next_after": page.next_after, "total": page.total})
        return 0
    table(["ID", "FILE", "STATUS", "LABELED AT", "RESULT"],
          [[i["id"], i["path"], i["status"], (i["labeled_at"] or "-")[:19], i["summary"]] for i in page.items])
    if page.next_after:
        print(f"(next page: --after {page.next_after}; {page.total}{'+' if page.more else ''} files match)")
    return 0


@guarded(PROG)
def cmd_create(args: argparse.Namespace) -> int:
    svc, me = Platform().labeling, current_user()
    body: dict[str, Any] = json.loads(args.body) if args.body else {}
    body.update({k: v for k, v in (("name", args.name), ("dataset", args.dataset), ("template", args.template))
                 if v})
    if args.labels:
        body["labels"] = [s.strip() for s in args.labels.split(",") if s.strip()]
    task = svc.create(me, body, background=False)  # the CLI waits: it has no notification area
    dump_json(svc.info(task, me))
    return 0


@guarded(PROG)
def cmd_end(args: argparse.Namespace) -> int:
    svc, me = Platform().labeling, current_user()
    dump_json(svc.info(svc.end(me, args.task), me))
    return 0


@guarded(PROG)
def cmd_export(args: argparse.Namespace) -> int:
    svc, me = Platform().labeling, current_user()
    out = svc.publish(me, args.task, args.format) if args.publish else \
        svc.export(me, args.task, args.format, args.directory)
    dump_json(out)
    return 0


def add_parser(lb: argparse.ArgumentParser) -> None:
    """`hpcai labeling` and its actions (cli/main.py's COMMANDS names this module)."""
    s = lb.add_subparsers(dest="labeling_command", metavar="ACTION")
    ls = s.add_parser("list", help="tasks you create, label or review")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    sh = s.add_parser("show", help="one task and its sub-tasks (JSON)")
    sh.add_argument("task", help="task id or name")
    sh.set_defaults(func=cmd_show)
    it = s.add_parser("items", help="the task's data list, one page")
    it.add_argument("task")
    it.add_argument("--status", choices=["labeled", "unlabeled"])
    it.add_argument("--name", help="part of the file name")
    it.add_argument("--subtask", type=int)
    it.add_argument("--after", type=int, help="the last id of the previous page")
    it.add_argument("--limit", type=int, default=50)
    it.add_argument("--json", action="store_true")
    it.set_defaults(func=cmd_items)
    cr = s.add_parser("create", help="create a task (waits until it is ready)")
    cr.add_argument("--name")
    cr.add_argument("--dataset")
    cr.add_argument("--template")
    cr.add_argument("--labels", help="comma-separated")
    cr.add_argument("--body", help="the whole request as JSON (collaborative fields ...), as the API takes it")
    cr.set_defaults(func=cmd_create)
    en = s.add_parser("end", help="end a task: nobody changes it afterwards")
    en.add_argument("task")
    en.set_defaults(func=cmd_end)
    ex = s.add_parser("export", help="export to a directory (or --publish beside the data)")
    ex.add_argument("task")
    ex.add_argument("--format", required=True, help="coco, voc, yolo, jsonl, csv, json, labelstudio")
    ex.add_argument("--directory")
    ex.add_argument("--publish", action="store_true")
    ex.set_defaults(func=cmd_export)


PARSERS = {"labeling": add_parser}
