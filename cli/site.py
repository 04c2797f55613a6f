"""`hpcai plugins/specs/unlock/profile`: what the site offers and its administration."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cli.common import PROG, dump_json, guarded, new_platform, table
from core.errors import ValidationError
from core.users import current_user, groups_of, is_admin


# --- catalogs --------------------------------------------------------------------------------

@guarded(PROG)
def cmd_plugins(args: argparse.Namespace) -> int:
    platform = new_platform()
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
    platform = new_platform()
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
    accounts = new_platform().accounts
    accounts.get(args.user)
    accounts.throttle.unlock(args.user)
    print(f"{args.user} may log in again")
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




# --- parsers ------------------------------------------------------------------------------------

def _plugins_parser(pl: argparse.ArgumentParser) -> None:
    pl.add_argument("--kind", help="scheduler, framework, mode, runtime or option")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_plugins)


def _specs_parser(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--all", action="store_true", help="every spec (admins)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_specs)


def _unlock_parser(ul: argparse.ArgumentParser) -> None:
    ul.add_argument("user")
    ul.set_defaults(func=cmd_unlock)


def _profile_parser(pr: argparse.ArgumentParser) -> None:
    pr.set_defaults(func=cmd_profile)


PARSERS = {"plugins": _plugins_parser, "specs": _specs_parser, "unlock": _unlock_parser,
           "profile": _profile_parser}
