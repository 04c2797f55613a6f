"""`hpcai images ...`: the one image list (built-in, shared, My images) and its operations."""

from __future__ import annotations

import argparse
import sys

from cli.common import dump_json, guarded, table
from core.platform import Platform
from core.users import current_user

PROG = "hpcai"


def _state(platform: Platform, listed) -> str:  # type: ignore[no-untyped-def]
    image = listed.image
    if listed.scope != "builtin":
        return listed.state
    if not image.build:
        return "-"
    if image.runtime == "host":
        from core.envbuild import is_built

        return "built" if is_built(image.reference) else "not built"
    from core.containers import engine

    return "built" if engine.image_exists("podman", image.reference) else "not built"


@guarded(PROG)
def cmd_list(args: argparse.Namespace) -> int:
    platform = Platform()
    found = platform.containers.search(current_user(), args.scope, args.tag, args.keyword)
    if args.json:
        dump_json({"images": [x.as_dict() for x in found.images], "count": len(found.images),
                   "total": found.total, "tag_counts": found.tag_counts})
        return 0
    table(["NAME", "SCOPE", "RUNTIME", "TAGS", "STATE", "OWNER", "REFERENCE"],
          [[x.image.name, x.scope, x.image.runtime, ",".join(x.image.tags), _state(platform, x),
            x.owner or "-", x.image.reference] for x in found.images])
    tags = ", ".join(f"{t} ({n})" for t, n in found.tag_counts.items())
    # the count on stderr: stdout stays the table scripts read
    print(f"{len(found.images)} of {found.total} images" + (f"; tags: {tags}" if tags else ""), file=sys.stderr)
    return 0


@guarded(PROG)
def cmd_build(args: argparse.Namespace) -> int:
    platform = Platform()
    if args.file:  # the user's own image, built by a scheduler job
        if len(args.names) != 1:
            print(f"{PROG}: give one image name with --file", file=sys.stderr)
            return 2
        listed = platform.containers.build(current_user(), args.names[0], args.file, args.context,
                                           tags=args.tags, frameworks=args.frameworks,
                                           resource_spec=args.resource_spec, source="cli")
        row = platform.jobs.get(listed.job_uuid or "", current_user())
        print(f"{listed.image.name}: building as job {row.id} ({listed.image.reference}); "
              f"`hpcai logs {row.id}` shows podman's output")
        return 0
    for name in args.names:
        result = platform.images.build(name, force=args.force, log=lambda line: print(f"  {line}", file=sys.stderr))
        state = f"built in {result.seconds:.0f} s" if result.built else "up to date"
        where = getattr(result, "prefix", None) or getattr(result, "reference", "")
        print(f"{result.image}: {state} ({where})")
    return 0


@guarded(PROG)
def cmd_pull(args: argparse.Namespace) -> int:
    listed = Platform().containers.pull(current_user(), args.reference, args.name, args.tags, args.frameworks)
    print(f"{listed.image.name}: pulled ({listed.image.reference})")
    return 0


@guarded(PROG)
def cmd_push(args: argparse.Namespace) -> int:
    print(f"pushed {args.name} to {Platform().containers.push(current_user(), args.name, args.target)}")
    return 0


@guarded(PROG)
def cmd_tag(args: argparse.Namespace) -> int:
    listed = Platform().containers.tag(current_user(), args.name, args.target, args.add, args.remove)
    print(f"{listed.image.name}: tags {','.join(listed.image.tags) or '-'} ({listed.image.reference})")
    return 0


@guarded(PROG)
def cmd_rm(args: argparse.Namespace) -> int:
    Platform().containers.remove(current_user(), args.name)
    print(f"removed {args.name}")
    return 0


@guarded(PROG)
def cmd_share(args: argparse.Namespace) -> int:
    Platform().containers.share(current_user(), args.name, not args.private)
    print(f"{args.name}: {'private' if args.private else 'shared'}")
    return 0


@guarded(PROG)
def cmd_save(args: argparse.Namespace) -> int:
    platform = Platform()
    listed = platform.containers.save_job(current_user(), args.job, args.name, args.rank)
    print(f"{listed.image.name}: saved ({listed.image.reference})")
    return 0


def register(im: argparse.ArgumentParser) -> None:
    """`hpcai images` and its actions (cli/main.py's COMMANDS names this module)."""
    im_sub = im.add_subparsers(dest="images_command", metavar="ACTION")
    il = im_sub.add_parser("list", help="list images (built-in, shared and My images)")
    il.add_argument("--tag", help="only images with this tag (PyTorch, TensorFlow, ...)")
    il.add_argument("--keyword", "-k", help="search names, descriptions, references and tags")
    il.add_argument("--scope", default="all", choices=["all", "mine", "shared", "builtin"])
    il.add_argument("--json", action="store_true")
    il.set_defaults(func=cmd_list)
    ib = im_sub.add_parser("build", help="build a catalog image (environment or container), or with --file "
                                         "your own image from a Containerfile as a scheduler job")
    ib.add_argument("names", nargs="+", metavar="NAME")
    ib.add_argument("--force", action="store_true", help="rebuild even when the image exists")
    ib.add_argument("--file", "-f", help="Containerfile/Dockerfile of your image (becomes a My image)")
    ib.add_argument("--context", help="build context directory (default: the Containerfile's directory)")
    ib.add_argument("--resource-spec", help="the build job's resource spec (default: your first CPU spec)")
    ib.add_argument("--tags", type=lambda s: [t for t in s.split(",") if t], default=[])
    ib.add_argument("--frameworks", type=lambda s: [t for t in s.split(",") if t], default=[])
    ib.set_defaults(func=cmd_build)
    ip = im_sub.add_parser("pull", help="pull an image from a registry into My images")
    ip.add_argument("reference", help="[registry/]name[:tag], e.g. 192.168.0.153:5000/jhinno/pytorch:2.1.0")
    ip.add_argument("--name", help="its name in My images (default: the reference)")
    ip.add_argument("--tags", type=lambda s: [t for t in s.split(",") if t], default=[])
    ip.add_argument("--frameworks", type=lambda s: [t for t in s.split(",") if t], default=[])
    ip.set_defaults(func=cmd_pull)
    iu = im_sub.add_parser("push", help="push an image to a registry")
    iu.add_argument("name")
    iu.add_argument("target", nargs="?", help="registry/name:tag (default: the site's registry)")
    iu.set_defaults(func=cmd_push)
    it = im_sub.add_parser("tag", help="give an image a new name:tag, or add/remove its filter tags")
    it.add_argument("name")
    it.add_argument("target", nargs="?", help="new name[:tag] (a new My image of the same content)")
    it.add_argument("--add", type=lambda s: [t for t in s.split(",") if t], default=[])
    it.add_argument("--remove", type=lambda s: [t for t in s.split(",") if t], default=[])
    it.set_defaults(func=cmd_tag)
    ir = im_sub.add_parser("rm", help="remove one of My images")
    ir.add_argument("name")
    ir.set_defaults(func=cmd_rm)
    ish = im_sub.add_parser("share", help="share one of My images with every user (--private: undo)")
    ish.add_argument("name")
    ish.add_argument("--private", action="store_true")
    ish.set_defaults(func=cmd_share)
    isv = im_sub.add_parser("save", help="save a running job's container as a new My image (podman commit)")
    isv.add_argument("job", help="job id")
    isv.add_argument("name", help="namespace/name[:tag] (tag default: latest)")
    isv.add_argument("--rank", type=int, default=0)
    isv.set_defaults(func=cmd_save)


PARSERS = {"images": register}
