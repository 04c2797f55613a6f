"""`hpcai`: the command-line shell, a table of commands each living in its own cli/<area>.py.

Only the chosen command's module is imported (and it imports the platform inside the command),
so `hpcai --help`, `hpcai X --help` and argument errors answer without loading the store or
the plugins. A new area adds ONE `Command(...)` line to COMMANDS and a module with a
`PARSERS = {name: add_arguments}` table (add_arguments sets `func` on its parser).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NamedTuple

from core import __version__


class Command(NamedTuple):
    name: str
    module: str  # cli.<area>, holding PARSERS[name]
    help: str


COMMANDS: list[Command] = [
    Command("submit", "cli.jobs", "submit a training job (hpcai submit --framework F --help for its flags)"),
    Command("jobs", "cli.jobs", "list jobs"),
    Command("show", "cli.jobs", "show one job"),
    Command("logs", "cli.jobs", "print a job's output"),
    Command("kill", "cli.jobs", "kill a job"),
    Command("suspend", "cli.jobs", "suspend a job"),
    Command("resume", "cli.jobs", "resume a job"),
    Command("tune", "cli.jobs", "auto-tuning studies"),
    Command("services", "cli.services", "list, start, stop and inspect your services"),
    Command("envs", "cli.envs", "development environments: create, start, stop, restart, delete"),
    Command("datasets", "cli.datasets", "list and show datasets"),
    Command("experiments", "cli.experiments", "list experiments and their runs"),
    Command("users", "cli.users", "list portal accounts and their Unix identities (admins)"),
    Command("plugins", "cli.site", "list installed plugins and their option schemas"),
    Command("specs", "cli.site", "list the resource specs you may use"),
    Command("unlock", "cli.site", "let a portal account locked by failed log-ins log in again (admins)"),
    Command("images", "cli.images", "the image catalog: built-in, shared and My images"),
    Command("labeling", "cli.labeling", "data labeling tasks (list, show, items, create, end, export)"),
    Command("pipelines", "cli.pipelines", "visual-designer pipelines: run, validate, components, instances"),
    Command("models", "cli.models", "the model registry: models, versions, ONNX conversion, deploy, share"),
    Command("rl", "cli.rl", "reinforcement learning: simulation environments, training runs (hpcai rl envs | train)"),
    Command("profile", "cli.site", "shell lines for the product's #BSUB scripts (eval \"$(hpcai profile)\")"),
    Command("serve", "cli.servers", "run the web portal, the scheduler watcher and the managed MLflow server"),
    Command("mlflow", "cli.servers", "run the managed MLflow tracking server ([tracking] of etc/hpcai.toml)"),
]
PROG = "hpcai"


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only `selected`'s module is imported to add its arguments."""
    p = argparse.ArgumentParser(prog=PROG, description="hpcai: an open, plugin-based AI platform for HPC clusters")
    p.add_argument("--version", action="version", version=f"hpcai {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS:
        if cmd.name == selected:
            parser = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help[:1].upper() + cmd.help[1:])
            importlib.import_module(cmd.module).PARSERS[cmd.name](parser)
            p.set_defaults(chosen_parser=parser)
        else:
            sub.add_parser(cmd.name, help=cmd.help, add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "submit":  # its flags come from the chosen plugins' schemas
        from cli.jobs import cmd_submit

        return cmd_submit(argv[1:])
    names = {c.name for c in COMMANDS}
    selected = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(selected if selected in names else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # No command, or a command with sub-actions given none: its usage, and exit 2.
        getattr(args, "chosen_parser", parser).print_help(sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
