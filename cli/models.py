"""`hpcai models ...`: the model registry from the command line (a thin shell over core.models)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cli.common import dump_json, guarded, table
from core.errors import ValidationError
from core.models.types import PURPOSES
from core.platform import Platform
from core.users import current_user

PROG = "hpcai models"


def _opts(pairs: list[str] | None) -> dict[str, Any]:
    """`-o key=value` (value parsed as JSON when it is JSON: 17 -> int, true -> bool)."""
    out: dict[str, Any] = {}
    for item in pairs or []:
        if "=" not in item:
            raise ValidationError(f"'{item}' is not key=value", field="option", fix="e.g. -o input_shape=1,4")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
        if isinstance(out[key], (list, dict)) or out[key] is None:
            out[key] = value
    return out


@guarded(PROG)
def cmd_list(args: argparse.Namespace) -> int:
    p, user = Platform(), current_user()
    rows, total = p.models.list(user, area=args.area, tag=args.tag, search=args.search or "",
                                page=args.page, per_page=args.per_page)
    if args.json:
        dump_json({"total": total, "models": [p.models.as_dict(r, user) for r in rows]})
        return 0
    table(["NAME", "OWNER", "PURPOSE", "TAGS", "STATE", "DESCRIPTION"],
          [[r.name, r.owner, r.purpose, ",".join(r.tags or []), r.state, (r.description or "")[:40]] for r in rows])
    return 0


@guarded(PROG)
def cmd_create(args: argparse.Namespace) -> int:
    p, user = Platform(), current_user()
    row = p.models.create(user, {"name": args.name, "purpose": args.purpose, "model_dir": args.dir,
                                 "is_lora": args.lora, "base_model": args.base_model, "tags": args.tags,
                                 "description": args.description})
    print(f"Model created successfully: {row.name} (v1 = {row.model_dir})")
    return 0


@guarded(PROG)
def cmd_show(args: argparse.Namespace) -> int:
    p, user = Platform(), current_user()
    row = p.models.get(user, args.name)
    data = {**p.models.as_dict(row, user), "versions": [v.as_dict() for v in p.models.versions(user, args.name)],
            "services": p.models.services(user, args.name)}
    if args.json:
        dump_json(data)
        return 0
    for key in ("name", "owner", "purpose_title", "tags", "model_dir", "is_lora", "base_model", "description",
                "mlflow_name"):
        print(f"{key:14} {data[key]}")
    _versions_table(data["versions"])
    for s in data["services"]:
        print(f"service        {s['name']} ({s['type']}, {s['state']}) v{s['version']} {s['alias']}")
    return 0


def _versions_table(versions: list[dict[str, Any]]) -> None:
    table(["VERSION", "STATE", "FORMAT", "ALIASES", "JOB", "DIRECTORY", "DESCRIPTION"],
          [[f"v{v['number']}", v["state"], v["format"] or "", ",".join(v["aliases"]), v["conversion_job"] or "",
            v["model_dir"], v["description"]] for v in versions])


@guarded(PROG)
def cmd_versions(args: argparse.Namespace) -> int:
    p, user = Platform(), current_user()
    if args.add:
        v = p.models.add_version(user, args.name, {"model_dir": args.add, "description": args.description})
        print(f"v{v.number} of {args.name}: {v.model_dir}")
        return 0
    versions = [v.as_dict() for v in p.models.versions(user, args.name)]
    if args.json:
        dump_json(versions)
    else:
        _versions_table(versions)
    return 0


@guarded(PROG)
def cmd_convert(args: argparse.Namespace) -> int:
    p, user = Platform(), current_user()
    v, job = p.models.convert(user, args.name, args.version, args.type, _opts(args.option), args.resource_spec)
    print(f"conversion job {job.id} submitted (hpcai logs -f {job.id}); "
          f"its result will be v{v.number} in {v.model_dir}")
    return 0


@guarded(PROG)
def cmd_deploy(args: argparse.Namespace) -> int:
    p, user = Platform(), current_user()
    if args.recommend:
        form = p.models.deploy_form(user, args.name, args.version)
        dump_json(form) if args.json else print("recommended: " + ", ".join(form["recommended"])
                                                + "\nmore: " + ", ".join(form["more"]))
        return 0
    values = {**_opts(args.option), "resource_spec": args.resource_spec, "type": args.type, "name": args.service_name}
    row = p.models.deploy(user, args.name, args.version, values)
    print(f"service {row.name} ({row.type}) created: {row.alias}")
    return 0


@guarded(PROG)
def cmd_share(args: argparse.Namespace) -> int:
    p, user = Platform(), current_user()
    row = p.models.share(user, args.name, args.version, {"share_group": args.group, "share_dir": args.dir,
                                                         "share_users": args.users, "name": args.as_name,
                                                         "description": args.description},
                         background=False)
    print(f"shared as {row.name} into group {row.share_group}: {row.state}")
    return 0 if row.state == "ready" else 1


@guarded(PROG)
def cmd_rm(args: argparse.Namespace) -> int:
    p, user = Platform(), current_user()
    if args.version is not None:
        p.models.delete_version(user, args.name, args.version, args.delete_files)
        print(f"deleted v{args.version} of {args.name}" + (" and its files" if args.delete_files else ""))
    else:
        p.models.delete(user, args.name, args.delete_files, area=args.area)
        print(f"deleted model {args.name}" + (" and its files" if args.delete_files else ""))
    return 0


def _version(text: str) -> int:
    text = text.lower().removeprefix("v")
    if not text.isdigit():
        raise argparse.ArgumentTypeError("a version is v<N> or N")
    return int(text)


def add_parser(m: argparse.ArgumentParser) -> None:
    """`hpcai models` and its actions (cli/main.py's COMMANDS names this module)."""
    ms = m.add_subparsers(dest="models_command", metavar="ACTION")
    ls = ms.add_parser("list", help="My models (or --area shared)")
    ls.add_argument("--area", choices=["my", "shared"], default="my")
    ls.add_argument("--tag")
    ls.add_argument("--search")
    ls.add_argument("--page", type=int, default=1)
    ls.add_argument("--per-page", type=int, default=50)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    c = ms.add_parser("create", help="create a model (its v1 is --dir)")
    c.add_argument("name")
    c.add_argument("--dir", required=True, help="the directory of the model files")
    c.add_argument("--purpose", default="other", choices=list(PURPOSES))
    c.add_argument("--tags", help="comma-separated tags (the purpose's tag is added)")
    c.add_argument("--lora", action="store_true", help="the directory holds LoRA adapter files")
    c.add_argument("--base-model", help="the base model of a LoRA adapter")
    c.add_argument("--description", default="")
    c.set_defaults(func=cmd_create)
    s = ms.add_parser("show", help="a model, its versions and services")
    s.add_argument("name")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)
    v = ms.add_parser("versions", help="list versions, or --add DIR a new one")
    v.add_argument("name")
    v.add_argument("--add", metavar="DIR")
    v.add_argument("--description", default="")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_versions)
    cv = ms.add_parser("convert", help="convert a version to ONNX in a scheduler job")
    cv.add_argument("name")
    cv.add_argument("--version", type=_version, help="default: the latest")
    cv.add_argument("--type", required=True, help="the model type (converter): sklearn, pytorch, tensorflow, paddle")
    cv.add_argument("-o", "--option", action="append", help="converter parameter key=value (input_shape=1,4 ...)")
    cv.add_argument("--resource-spec")
    cv.set_defaults(func=cmd_convert)
    d = ms.add_parser("deploy", help="deploy a version as a service (the recommended type by default)")
    d.add_argument("name")
    d.add_argument("--version", type=_version)
    d.add_argument("--type", help="service type (default: the recommended one)")
    d.add_argument("--service-name")
    d.add_argument("--resource-spec", default=None)
    d.add_argument("-o", "--option", action="append", help="service field key=value")
    d.add_argument("--recommend", action="store_true", help="only print the recommended types")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_deploy)
    sh = ms.add_parser("share", help="copy a version into a share group's shared data area")
    sh.add_argument("name")
    sh.add_argument("--version", type=_version)
    sh.add_argument("--group", required=True)
    sh.add_argument("--dir", required=True, help="a folder inside the group's shared data area")
    sh.add_argument("--users", help="comma-separated members (default: all)")
    sh.add_argument("--as-name", help="the shared model's name (default: the same)")
    sh.add_argument("--description")
    sh.set_defaults(func=cmd_share)
    r = ms.add_parser("rm", help="delete a model (or --version N), with --delete-files its files too")
    r.add_argument("name")
    r.add_argument("--version", type=_version)
    r.add_argument("--delete-files", action="store_true")
    r.add_argument("--area", choices=["my", "shared"], default="my")
    r.set_defaults(func=cmd_rm)
    m.set_defaults(func=lambda _args: (m.print_help(), 2)[1])


PARSERS = {"models": add_parser}
