"""`hpcai users`: portal accounts (administrators only), with the Unix account of the same
name when the system has one (see the README: who runs a job)."""

from __future__ import annotations

import argparse
import pwd

from cli.common import dump_json, guarded, new_platform, table
from core.errors import PermissionDenied
from core.users import current_user, is_admin

PROG = "hpcai"


def _unix(name: str) -> str | None:
    try:
        return pwd.getpwnam(name).pw_name
    except KeyError:
        return None


@guarded(PROG)
def cmd_list(args: argparse.Namespace) -> int:
    if not is_admin(current_user()):
        raise PermissionDenied("only root or members of hpcai-admin may list accounts", field="user",
                               fix="ask a site administrator")
    accounts = new_platform().accounts.list()
    if args.json:
        dump_json({"users": [a.as_dict() | {"unix_account": _unix(a.name)} for a in accounts]})
        return 0
    table(["NAME", "ROLE", "FULL_NAME", "GROUPS", "DISABLED", "UNIX_ACCOUNT"],
          [[a.name, a.role, a.full_name or "-", ",".join(a.groups) or "-", "yes" if a.disabled else "no",
            _unix(a.name) or "-"] for a in accounts])
    return 0


def _parser(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="users_command", metavar="ACTION")
    ls = sub.add_parser("list", help="every portal account")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    p.set_defaults(func=cmd_list, json=False)


PARSERS = {"users": _parser}
