"""`hpcai envs`: the user's development environments (JupyterLab, Web terminal, RStudio)."""

from __future__ import annotations

import argparse

from cli.common import dump_json, guarded, new_platform, table
from core.errors import ValidationError
from core.users import current_user

PROG = "hpcai"


@guarded(PROG)
def cmd_list(args: argparse.Namespace) -> int:
    envs = new_platform().environments
    views = [envs.view(r, viewer=current_user()) for r in envs.list(current_user())]
    if args.json:
        dump_json({"environments": [v.as_dict() for v in views]})
        return 0
    table(["ID", "NAME", "TYPE", "STATE", "PENDING", "URL"],
          [[v.id, v.name, v.type, v.state, "restart" if v.pending else "-", v.url or "-"] for v in views])
    return 0


@guarded(PROG)
def cmd_show(args: argparse.Namespace) -> int:
    envs = new_platform().environments
    view = envs.view(envs.get(args.env, current_user()), viewer=current_user())
    if args.json:
        dump_json(view.as_dict())
        return 0
    data = view.as_dict()
    for key in ("id", "name", "type_title", "state", "reason", "alias", "url", "description"):
        print(f"{key:12} {'-' if data.get(key) in (None, '') else data[key]}")
    for key, value in view.values.items():
        print(f"{key:12} {value}")
    if view.pending:
        print("pending      " + ", ".join(f"{k}={v}" for k, v in view.pending.items()
                                          if view.values.get(k) != v) + " (at the next restart)")
    if view.ssh:  # spec 01 §5: the connection command, Xshell's form (F24) and the password
        print(f"{'ssh':12} {view.ssh['ssh']}")
        print(f"{'xshell':12} {view.ssh['xshell']}")
        print(f"{'password':12} {view.ssh['password'] or '(shown to the owner only)'}")
    for key, value in (view.client or {}).items():  # "open in client" (a Desktop's VNC address)
        if key not in ("host", "port"):
            print(f"{'client ' + key:12} {value}")
    for line in view.log_tail[-10:]:
        print(f"  | {line}")
    return 0


@guarded(PROG)
def cmd_create(args: argparse.Namespace) -> int:
    envs = new_platform().environments
    user = current_user()
    values = {"type": args.type, "name": args.name or envs.suggest_name(user, args.type),
              "image": args.image, "resource_spec": args.resource_spec, "shm_mb": args.shm_mb,
              "ports": args.ports, "mounts": args.mount or None, "workdir": args.workdir, "ssh": args.ssh,
              "description": args.description}
    for item in args.option or []:  # the type's own fields (a Desktop's gpu_mode)
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"'{item}' is not KEY=VALUE", field="option", fix="e.g. --option gpu_mode=egl")
        values[key.strip()] = value.strip()
    row = envs.create({k: v for k, v in values.items() if v not in (None, "")}, user, start=not args.no_start)
    print(f"Environment {row.id} ({row.name}): {envs.view(row).state}")
    return 0


def _lifecycle(action: str):  # type: ignore[no-untyped-def]
    @guarded(PROG)
    def run(args: argparse.Namespace) -> int:
        envs = new_platform().environments
        if action == "delete":
            envs.delete(args.env, current_user())
            print(f"Environment {args.env}: deleted")
            return 0
        row = getattr(envs, action)(args.env, current_user())
        print(f"Environment {row.id} ({row.name}): {envs.view(row).state}")
        return 0

    return run


def _parser(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="envs_command", metavar="ACTION")
    ls = sub.add_parser("list", help="your development environments")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    sh = sub.add_parser("show", help="one environment: state, address, settings, start-up log")
    sh.add_argument("env", help="its id or name")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=cmd_show)
    cr = sub.add_parser("create", help="create (and start) an environment")
    cr.add_argument("--type", required=True, help="jupyterlab, vscode, webterminal, rstudio, desktop (hpcai plugins)")
    cr.add_argument("--name", help="default: an unused name such as jupyterlab-1")
    cr.add_argument("--image", help="a catalog image carrying the type's tag")
    cr.add_argument("--resource-spec", dest="resource_spec", help="hpcai specs")
    cr.add_argument("--shm-mb", dest="shm_mb", type=int)
    cr.add_argument("--ports", help="custom ports, e.g. 8080,6006")
    cr.add_argument("--mount", action="append", help="source[:target[:ro]] (repeatable)")
    cr.add_argument("--workdir", help="working directory (default: your home)")
    cr.add_argument("--ssh", action="store_true", help="run sshd in the environment")
    cr.add_argument("--description")
    cr.add_argument("--option", action="append", metavar="KEY=VALUE",
                    help="a field of the type itself, e.g. gpu_mode=egl for a Desktop (repeatable)")
    cr.add_argument("--no-start", action="store_true")
    cr.set_defaults(func=cmd_create)
    for action in ("start", "stop", "restart", "delete"):
        c = sub.add_parser(action, help=f"{action} an environment")
        c.add_argument("env", help="its id or name")
        c.set_defaults(func=_lifecycle(action))
    p.set_defaults(func=cmd_list, json=False)


PARSERS = {"envs": _parser}
