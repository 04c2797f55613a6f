"""`hpcai pipelines ...`: the visual designer's pipelines from the command line.

    hpcai pipelines run FILE.json [--spec cpu-1] [--wait]   run a pipeline document as a job
    hpcai pipelines validate FILE.json                      every problem, each naming its node
    hpcai pipelines components [--search WORDS] [--json]    the palette
    hpcai pipelines schema                                  the document's JSON Schema
    hpcai pipelines list | save FILE.json | delete NAME     saved pipelines
    hpcai pipelines instances | instance ID | terminate|suspend|resume|remove ID
    hpcai pipelines functions | add-function KIND NAME FILE

Thin shell: every rule is core.pipelines'.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from cli.common import dump_json, guarded, read_json_object, table
from core.errors import ParseError
from core.pipelines.document import DOCUMENT_SCHEMA, resolve_paths
from core.pipelines.engine import RunSettings
from core.pipelines.service import function_dict, row_dict
from core.platform import Platform
from core.users import current_user

PROG = "hpcai pipelines"


def _read(path: str, platform: Platform) -> dict[str, Any]:
    doc = read_json_object(path, "pipeline file", "the pipeline file must be JSON (see `hpcai pipelines schema`)")
    return resolve_paths(doc, Path(path).resolve().parent, platform.pipelines.catalog)


@guarded(PROG)
def cmd_validate(args: argparse.Namespace) -> int:
    p = Platform()
    pipeline = p.pipelines.validate(_read(args.file, p), for_run=True)
    print(f"{args.file}: valid, {len(pipeline.nodes)} components, {len(pipeline.edges)} connections")
    return 0


@guarded(PROG)
def cmd_run(args: argparse.Namespace) -> int:
    p = Platform()
    doc = _read(args.file, p)
    row = p.pipelines.run(current_user(), doc, RunSettings(args.spec, args.scheduler, args.queue, args.experiment))
    print(f"Pipeline instance {row.id} ({row.uuid[:8]}) submitted as job {row.job_id}; data in {row.run_dir}")
    if not args.wait:
        return 0
    while True:
        p.jobs.refresh()
        info = p.pipelines.summary(current_user(), row)
        if info["state"] in ("succeeded", "failed", "cancelled", "deleted"):
            break
        time.sleep(1)
    sys.stdout.write(p.pipelines.log(current_user(), row.id))
    metrics = p.pipelines.details(current_user(), row.id)["metrics"]
    print(f"Pipeline instance {row.id}: {info['state']}" + ("; " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items())
                                                          if metrics else ""))
    return 0 if info["state"] == "succeeded" else 1


@guarded(PROG)
def cmd_components(args: argparse.Namespace) -> int:
    p = Platform()
    palette = p.pipelines.catalog.palette(args.search or "")
    if args.json:
        dump_json(palette)
        return 0
    rows = [[c["name"], c["title"], cat["category"], c["group"],
             "no: " + c["unavailable"][:50] if c["unavailable"] else "yes"]
            for cat in palette for c in cat["components"] if not args.category or cat["category"] == args.category]
    table(["NAME", "TITLE", "CATEGORY", "GROUP", "RUNS HERE"], rows)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    dump_json(DOCUMENT_SCHEMA)
    return 0


@guarded(PROG)
def cmd_list(args: argparse.Namespace) -> int:
    rows = [row_dict(r) for r in Platform().pipelines.list(current_user(), args.type)]
    if args.json:
        dump_json(rows)
        return 0
    table(["ID", "NAME", "TYPE", "NODES", "REVISION", "UPDATED"],
          [[r["id"], r["name"], r["type"], r["nodes"], r["revision"], r["updated"]] for r in rows])
    return 0


@guarded(PROG)
def cmd_save(args: argparse.Namespace) -> int:
    p = Platform()
    doc = _read(args.file, p)
    name = args.name or doc.get("name")
    try:
        existing = p.pipelines.get(current_user(), name)
    except Exception:
        existing = None
    if existing is not None and existing.user == current_user():
        row = p.pipelines.save(current_user(), existing.id, doc, doc.get("description"))
    else:
        row = p.pipelines.create(current_user(), name, doc.get("type", ""), doc.get("description", ""), doc=doc)
    print(f"Pipeline {row.id} {row.name!r} saved (revision {row.revision})")
    return 0


@guarded(PROG)
def cmd_delete(args: argparse.Namespace) -> int:
    Platform().pipelines.delete(current_user(), args.pipeline)
    print(f"Pipeline {args.pipeline} deleted")
    return 0


@guarded(PROG)
def cmd_instances(args: argparse.Namespace) -> int:
    p = Platform()
    p.jobs.refresh()
    rows = p.pipelines.instances(current_user(), name=args.name, state=args.state)
    if args.json:
        dump_json(rows)
        return 0
    table(["ID", "NAME", "STATE", "JOB", "SPEC", "CREATED", "DURATION"],
          [[r["id"], r["name"], r["state"], r["job_id"], r["resource_spec"], r["created"],
            f"{r['duration_s']:.0f}s" if r["duration_s"] is not None else ""] for r in rows])
    return 0


@guarded(PROG)
def cmd_instance(args: argparse.Namespace) -> int:
    p = Platform()
    p.jobs.refresh()
    info = p.pipelines.details(current_user(), args.instance)
    if args.json:
        dump_json(info)
        return 0
    print(f"Instance {info['id']} {info['name']}: {info['state']} (job {info['job_id']})")
    for nid, st in info["nodes"].items():
        print(f"  {nid:16} {st['title']:32} {st['state']}" + (f"  {st['error']}" if st.get("error") else ""))
    for k, v in info["metrics"].items():
        print(f"  metric {k} = {v:.6g}")
    print(f"  data: {info['run_dir']} ({len(info['files'])} files)")
    return 0


def _control(action: str):  # type: ignore[no-untyped-def]
    @guarded(PROG)
    def run(args: argparse.Namespace) -> int:
        out = Platform().pipelines.control(current_user(), args.instance, action)
        print(f"Instance {args.instance}: {'deleted' if out.get('deleted') else out['state']}")
        return 0
    return run


@guarded(PROG)
def cmd_functions(args: argparse.Namespace) -> int:
    rows = [function_dict(r) for r in Platform().pipelines.functions(current_user(), args.kind)]
    if args.json:
        dump_json(rows)
        return 0
    table(["ID", "KIND", "NAME", "CREATED", "DESCRIPTION"],
          [[r["id"], r["kind"], r["name"], r["created"], r["description"][:40]] for r in rows])
    return 0


@guarded(PROG)
def cmd_add_function(args: argparse.Namespace) -> int:
    try:
        body = Path(args.file).read_text()
    except OSError as exc:
        raise ParseError(f"cannot read: {exc.strerror}", source=args.file, line=1) from None
    row = Platform().pipelines.create_function(current_user(), args.kind, args.name, body, args.description or "",
                                               args.params)
    print(f"Custom {row.kind} function {row.name} saved (id {row.id})")
    return 0


def register(pl: argparse.ArgumentParser) -> None:
    """`hpcai pipelines` and its actions (cli/main.py's COMMANDS names this module)."""
    ps = pl.add_subparsers(dest="pipelines_command", metavar="ACTION")
    r = ps.add_parser("run", help="run a pipeline document (JSON) as a scheduler job")
    r.add_argument("file")
    r.add_argument("--spec", default="cpu-1", help="resource spec (default cpu-1; see `hpcai specs`)")
    r.add_argument("--scheduler")
    r.add_argument("--queue")
    r.add_argument("--experiment", help="experiment the run is logged to (default: the pipeline's name)")
    r.add_argument("--wait", action="store_true", help="wait for the end, print the log and the metrics")
    r.set_defaults(func=cmd_run)
    v = ps.add_parser("validate", help="check a pipeline document; every problem names its component")
    v.add_argument("file")
    v.set_defaults(func=cmd_validate)
    c = ps.add_parser("components", help="the component palette")
    c.add_argument("--search")
    c.add_argument("--category")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_components)
    ps.add_parser("schema", help="the JSON Schema of a pipeline document").set_defaults(func=cmd_schema)
    ls = ps.add_parser("list", help="your saved pipelines (and published ones)")
    ls.add_argument("--type")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    sv = ps.add_parser("save", help="save a document as a pipeline (a new one, or a new revision of yours)")
    sv.add_argument("file")
    sv.add_argument("--name")
    sv.set_defaults(func=cmd_save)
    d = ps.add_parser("delete", help="delete a saved pipeline")
    d.add_argument("pipeline")
    d.set_defaults(func=cmd_delete)
    i = ps.add_parser("instances", help="pipeline instances (runs)")
    i.add_argument("--name")
    i.add_argument("--state")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_instances)
    one = ps.add_parser("instance", help="one instance: node states, metrics, data")
    one.add_argument("instance")
    one.add_argument("--json", action="store_true")
    one.set_defaults(func=cmd_instance)
    for action, name in (("terminate", "terminate"), ("suspend", "suspend"), ("resume", "resume"),
                         ("delete", "remove")):
        a = ps.add_parser(name, help=f"{action} an instance")
        a.add_argument("instance")
        a.set_defaults(func=_control(action))
    f = ps.add_parser("functions", help="your custom loss and metric functions")
    f.add_argument("--kind", choices=("loss", "metric"))
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_functions)
    af = ps.add_parser("add-function", help="save a custom loss or metric function (NAME = its entry function/class)")
    af.add_argument("kind", choices=("loss", "metric"))
    af.add_argument("name")
    af.add_argument("file", help="the Python file holding the function")
    af.add_argument("--description")
    af.add_argument("--params", action="store_true", help="the function takes parameters")
    af.set_defaults(func=cmd_add_function)


PARSERS = {"pipelines": register}
