"""Simulation environments (spec 04 §1, F130-F134): register, list, modify, delete, resolve.

Depends on narrow functions (SimEnvDeps), never on core.platform.Platform. Names are unique
across the site (the manual: "must not equal an existing simulation-environment name"); an
environment is seen, changed and used by its owner (and administrators), because its package
lies in the owner's own area, which only the owner's jobs read.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select

from core.errors import HpcaiError, NotFound, PermissionDenied, ValidationError, ValidationErrors
from core.rl.simenvs import archives
from core.rl.simenvs.tables import SimEnvRow
from core.store import Store

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MODES = {"green": "Green package", "installed": "Installed environment"}
RUN_MODES = {"non-exclusive": "Non-exclusive", "exclusive": "Exclusive"}
SYSTEMS = ("Linux",)  # the cluster's nodes; the manual shows only this choice
MAX_PORTS = 5
MAX_DESCRIPTION = 512
UPLOAD_DIR = "simulation-environments"  # under the owner's workspace: their jobs read it
FIELD = "simulation_environment"  # what a pipeline's selection node calls its choice
FIELDS = ("name", "install_mode", "classification", "archive", "start_file", "os", "python_builtin",
          "start_path", "run_mode", "ports", "description")


@dataclass
class SimEnvDeps:
    """What the registry needs from the rest of the platform (each a narrow function)."""

    store: Store
    check_path: Callable[..., Path]  # (user, path, field[, must_exist]) -> resolved, inside the user's roots
    home: Callable[[str], Path]  # the user's own workspace
    upload: Callable[[str, str, str, BinaryIO], Path]  # (user, dir, filename, stream): the site's size limit
    owner_of: Callable[[str], tuple[int, int] | None]  # the account's (uid, gid) when the platform is root
    classification_enabled: Callable[[], bool]
    classification_levels: Callable[[], list[str]]
    is_admin: Callable[[str], bool]


@dataclass(frozen=True)
class Upload:
    """An archive sent from the user's computer (multipart): its file name and its bytes."""

    filename: str
    stream: BinaryIO


class SimEnvService:
    def __init__(self, deps: SimEnvDeps):
        self.d = deps

    # --- the form -------------------------------------------------------------------------------

    def default_level(self) -> str | None:
        """F2's exception: simulation environments default to Confidential, not the user's level."""
        if not self.d.classification_enabled():
            return None
        levels = self.d.classification_levels()
        return next((lv for lv in levels if lv.lower() == "confidential"), levels[-1] if levels else None)

    def form_schema(self) -> dict[str, Any]:
        """The create form (portal page, CLI, API docs): fields shown by installation mode."""
        green, installed = {"install_mode": "green"}, {"install_mode": "installed"}
        props: dict[str, Any] = {
            "name": {"type": "string", "title": "Environment name", "pattern": NAME.pattern, "maxLength": 64,
                     "x-order": 1, "description": "unique among simulation environments"},
            "install_mode": {"type": "string", "title": "Installation mode", "enum": list(MODES), "default": "green",
                             "x-enum-labels": MODES, "x-order": 2},
            "archive": {"type": "string", "title": "Program package", "x-widget": "archive", "x-order": 4,
                        "x-visible-if": green,
                        "description": "a .zip, .tar, .tar.gz, .tar.bz2 or .tar.xz archive: upload it, or give "
                                       "its path on the server"},
            "start_file": {"type": "string", "title": "Start file name", "x-order": 5, "x-visible-if": green,
                           "description": "the launcher inside the package, e.g. run.sh (.sh, .bat, .cmd or .exe)"},
            "os": {"type": "string", "title": "Operating system", "enum": list(SYSTEMS), "default": SYSTEMS[0],
                   "x-order": 4.1, "x-visible-if": installed},
            "python_builtin": {"type": "boolean", "title": "Python built-in simulation", "default": False,
                               "x-order": 4.2, "x-visible-if": installed,
                               "description": "the environment is a Python class (custom development template)"},
            "start_path": {"type": "string", "title": "Start file absolute path", "x-order": 4.3,
                           "x-visible-if": {"install_mode": "installed", "python_builtin": False},
                           "description": "e.g. /home/you/sim/start.sh"},
            "run_mode": {"type": "string", "title": "Run mode", "enum": list(RUN_MODES), "default": "non-exclusive",
                         "x-enum-labels": RUN_MODES, "x-order": 6,
                         "description": "exclusive: the run's nodes are not shared with other jobs"},
            "ports": {"type": "integer", "title": "Port count", "minimum": 1, "maximum": MAX_PORTS, "x-order": 7,
                      "description": "ports the simulator listens on (1-5), allocated per run"},
            "description": {"type": "string", "title": "Description", "x-widget": "textarea",
                            "maxLength": MAX_DESCRIPTION, "x-order": 90},
        }
        level = self.default_level()
        if level is not None:  # F1: only while the site has classification on
            props["classification"] = {"type": "string", "title": "Security classification", "x-order": 3,
                                       "enum": self.d.classification_levels(), "default": level,
                                       "x-widget": "select"}
        return {"type": "object", "required": ["name", "archive", "start_file", "start_path"], "properties": props}

    # --- reading --------------------------------------------------------------------------------

    def list(self, user: str) -> list[SimEnvRow]:
        """The user's environments, newest first (an administrator sees everyone's)."""
        q = select(SimEnvRow).order_by(SimEnvRow.id.desc())
        if not self.d.is_admin(user):
            q = q.where(SimEnvRow.owner == user)
        with self.d.store.session() as s:
            return list(s.scalars(q))

    def get(self, user: str, name: str, field: str = "name") -> SimEnvRow:
        """One environment by name; another user's is 'not found' (unless you administer the site)."""
        with self.d.store.session() as s:
            row = s.scalar(select(SimEnvRow).where(SimEnvRow.name == str(name or "").strip()))
        if row is None or (row.owner != user and not self.d.is_admin(user)):
            raise NotFound(f"no simulation environment '{name}'", field=field,
                           fix="see `hpcai rl envs list` for yours")
        return row

    def as_dict(self, row: SimEnvRow) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": row.id, "name": row.name, "owner": row.owner, "install_mode": row.install_mode,
            "install_mode_title": MODES.get(row.install_mode, row.install_mode),
            "archive": row.archive, "uploaded": row.uploaded, "start_file": row.start_file,
            "start_member": row.start_member, "os": row.os, "python_builtin": row.python_builtin,
            "start_path": row.start_path, "run_mode": row.run_mode, "ports": row.ports,
            "description": row.description, "created_at": row.created_at.isoformat() if row.created_at else None,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None,
        }
        if self.d.classification_enabled():
            out["classification"] = row.classification
        return out

    def resolve(self, user: str, name: str) -> dict[str, Any]:
        """The training spec's `simulator` dict (core.rl.trainspec): what a run of `user` starts."""
        if not str(name or "").strip():
            raise ValidationError("is required", field=FIELD, fix="choose a simulation environment")
        row = self.get(user, name, field=FIELD)
        sim: dict[str, Any] = {"name": row.name, "mode": row.install_mode, "archive": None, "start_file": None,
                               "start": None, "python_builtin": False, "ports": row.ports or 0,
                               "exclusive": row.run_mode == "exclusive"}
        if row.install_mode == "green":
            if not Path(str(row.archive)).is_file():
                raise ValidationError(f"the program package of '{row.name}' ({row.archive}) is gone", field=FIELD,
                                      fix="modify the environment to point at its package, or register it again")
            sim.update(archive=row.archive, start_file=row.start_member or row.start_file)
        else:
            sim["python_builtin"] = row.python_builtin
            if not row.python_builtin:
                if not Path(str(row.start_path)).is_file():
                    raise ValidationError(f"the start file of '{row.name}' ({row.start_path}) is gone", field=FIELD,
                                          fix="modify the environment's start file absolute path")
                sim["start"] = row.start_path
        return sim

    # --- writing --------------------------------------------------------------------------------

    def create(self, user: str, values: dict[str, Any], upload: Upload | None = None) -> SimEnvRow:
        """F130-F134: a new environment; every mistake names its field and the fix, nothing is kept."""
        clean = self._check(user, values, upload is not None, new=True)
        stored = self._package(user, clean, upload)
        try:
            with self.d.store.session() as s:
                s.add(SimEnvRow(owner=user, **clean))
        except BaseException:
            if stored:
                self._remove_upload(Path(stored))
            raise
        return self.get(user, clean["name"])

    def modify(self, user: str, name: str, values: dict[str, Any], upload: Upload | None = None) -> SimEnvRow:
        """Change any field but the name; the whole environment is checked again."""
        row = self.get(user, name)
        if values.get("name") not in (None, "", row.name):
            raise ValidationError("the name of a simulation environment cannot change", field="name",
                                  fix="register a new environment under the other name")
        current = {k: getattr(row, k) for k in FIELDS}
        if row.uploaded and "archive" not in values and upload is None:
            current["archive"] = row.archive  # keep the stored package: it is checked again below
        merged = {**current, **{k: v for k, v in values.items() if k in FIELDS}, "name": row.name}
        clean = self._check(row.owner, merged, upload is not None)
        old_upload = row.archive if row.uploaded else None
        stored = self._package(row.owner, clean, upload)
        if stored is None and clean.get("archive") == old_upload and clean["install_mode"] == "green":
            clean["uploaded"] = True  # the same stored package, kept
        with self.d.store.session() as s:
            r = s.get(SimEnvRow, row.id)
            for key, value in clean.items():
                setattr(r, key, value)
        if old_upload and old_upload != clean.get("archive"):
            self._remove_upload(Path(old_upload))
        return self.get(user, row.name)

    def delete(self, user: str, name: str) -> None:
        """Remove an environment; a package the platform stored from an upload goes with it."""
        row = self.get(user, name)
        with self.d.store.session() as s:
            r = s.get(SimEnvRow, row.id)
            if r is not None:
                s.delete(r)
        if row.uploaded and row.archive:
            self._remove_upload(Path(row.archive))

    # --- checks ---------------------------------------------------------------------------------

    def _check(self, user: str, values: dict[str, Any], uploading: bool, new: bool = False) -> dict[str, Any]:
        """Every field's error at once (a form shows each next to its field); the clean values.

        The archive's contents are checked after the other fields pass (see _package)."""
        errors: list[HpcaiError] = []
        out: dict[str, Any] = {}
        # str(): a multipart part with an odd name reaches here as a None key (found by the fuzzer)
        unknown = sorted(str(k) for k in set(values) - set(FIELDS) - {"uploaded", "start_member"})
        if unknown:
            errors.append(ValidationError(f"unknown field '{unknown[0]}'", field=unknown[0],
                                          fix="fields are: " + ", ".join(FIELDS)))

        def attempt(fld: str, fn: Callable[[], Any]) -> None:
            try:
                out[fld] = fn()
            except HpcaiError as exc:
                errors.extend(exc.errors if isinstance(exc, ValidationErrors) else [exc])

        attempt("name", lambda: self._free(_name(values.get("name"))) if new else _name(values.get("name")))
        attempt("install_mode", lambda: _choice(values.get("install_mode"), MODES, "install_mode", "green"))
        attempt("run_mode", lambda: _choice(values.get("run_mode"), RUN_MODES, "run_mode", "non-exclusive"))
        attempt("ports", lambda: _ports(values.get("ports")))
        attempt("description", lambda: _description(values.get("description")))
        attempt("classification", lambda: self._level(values.get("classification")))
        mode = out.get("install_mode")
        out.update(archive=None, uploaded=False, start_file=None, start_member=None, os=SYSTEMS[0],
                   python_builtin=False, start_path=None)
        if mode == "green":
            attempt("start_file", lambda: archives.check_start_name(values.get("start_file")))
            if not uploading:
                attempt("archive", lambda: self._server_archive(user, values.get("archive")))
        elif mode == "installed":
            attempt("os", lambda: _choice(values.get("os"), {s: s for s in SYSTEMS}, "os", SYSTEMS[0]))
            attempt("python_builtin", lambda: _flag(values.get("python_builtin"), "python_builtin"))
            if out.get("python_builtin") is False:
                attempt("start_path", lambda: self._start_path(user, values.get("start_path")))
        if len(errors) == 1:
            raise errors[0]  # keeps its kind: a path outside the user's directories is a 403
        if errors:
            raise ValidationErrors(errors)
        return out

    def _free(self, name: str) -> str:
        """F130: a name no simulation environment has, whoever registered it."""
        with self.d.store.session() as s:
            if s.scalar(select(SimEnvRow.id).where(SimEnvRow.name == name)):
                raise ValidationError(f"a simulation environment named '{name}' exists", field="name",
                                      fix="choose another name (names are unique across the site)")
        return name

    def _level(self, given: Any) -> str | None:
        level = self.default_level()
        if level is None:
            return None  # F1: no level while the feature is off
        if given in (None, ""):
            return level
        levels = self.d.classification_levels()
        if given not in levels:
            raise ValidationError(f"'{given}' is not a classification level", field="classification",
                                  fix="choose one of: " + ", ".join(levels))
        return str(given)

    def _server_archive(self, user: str, path: Any) -> str:
        """A package selected on the server ("remote"): an accepted type, a file of the user's roots."""
        text = str(path or "").strip()
        if not text:
            raise ValidationError("is required", field="archive",
                                  fix="upload the simulator's archive, or give its path on the server")
        archives.check_suffix(text)
        p = self.d.check_path(user, text, "archive", must_exist=False)
        if not p.exists():
            raise ValidationError(f"{text} does not exist", field="archive",
                                  fix="upload the archive, or give the path of one on the server")
        if not p.is_file():
            raise ValidationError(f"{text} is not a file", field="archive", fix="choose the archive file itself")
        return str(p)

    def _start_path(self, user: str, path: Any) -> str:
        """An installed launcher: absolute, a file, and one the user's jobs may run (in the user's
        directories, or installed for everyone: readable by all, every folder on the way open)."""
        text = str(path or "").strip()
        fix = "give the launcher's full path, e.g. /home/you/sim/start.sh"
        if not text:
            raise ValidationError("is required when the simulation is not Python built-in", field="start_path",
                                  fix=fix + ", or switch on Python built-in simulation")
        if not text.startswith("/") or "\x00" in text:
            raise ValidationError(f"'{text}' is not an absolute path", field="start_path", fix=fix)
        try:
            p = self.d.check_path(user, text, "start_path", must_exist=False)
        except PermissionDenied:
            p = Path(os.path.normpath(text))
            if not _public(p):
                raise PermissionDenied(f"{text} is outside your directories and not readable by every user",
                                       field="start_path",
                                       fix="install the simulator under your directories, or for all users "
                                           "(world-readable, e.g. under /opt)") from None
        if not p.exists():
            raise ValidationError(f"{text} does not exist", field="start_path", fix=fix)
        if not p.is_file():
            raise ValidationError(f"{text} is not a file", field="start_path", fix="give the launcher file itself")
        return str(p)

    def _package(self, user: str, clean: dict[str, Any], upload: Upload | None) -> str | None:
        """Store an upload (if any) and check the archive holds the start file; the stored path."""
        if clean["install_mode"] != "green":
            return None
        stored: str | None = None
        if upload is not None:
            filename = Path(str(upload.filename or "")).name
            if not filename:
                raise ValidationError("no file was sent", field="archive", fix="choose the simulator's archive")
            archives.check_suffix(filename)
            target = self._upload_dir(user, clean["name"])
            # a new package on modify never overwrites the kept one: a refused upload loses nothing
            base, n = filename, 1
            while (target / filename).exists():
                filename, n = f"{n}-{base}", n + 1
            try:
                stored = str(self.d.upload(user, str(target), filename, upload.stream))
            except HpcaiError as exc:  # the workspace names its own field 'file'
                raise ValidationError(exc.message, field="archive", fix=exc.fix) from None
            clean.update(archive=stored, uploaded=True)
        try:
            path = Path(clean["archive"])
            names = archives.members(path, archives.check_suffix(path.name))
            clean["start_member"] = archives.find_start(names, clean["start_file"], path)
        except BaseException:
            if stored:
                self._remove_upload(Path(stored))
            raise
        return stored

    def _upload_dir(self, user: str, name: str) -> Path:
        base = self.d.home(user) / UPLOAD_DIR
        target = base / name
        owner = self.d.owner_of(user)
        for d in (base, target):
            if not d.is_dir():
                d.mkdir(mode=0o700, exist_ok=True)
                if owner:  # root made it for the user: theirs, so their jobs unpack it
                    os.chown(d, *owner)
        return target

    def _remove_upload(self, path: Path) -> None:
        """Delete a stored package, and its folder once empty (only ever under the owner's upload
        area): a package uploaded on modify shares the folder with the one it replaces."""
        if path.parent.parent.name != UPLOAD_DIR:
            return
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()


def _name(value: Any) -> str:
    name = str(value or "").strip()
    if not NAME.match(name):
        raise ValidationError(f"'{name}' is not a valid name" if name else "is required", field="name",
                              fix="letters, digits, '.', '_' or '-' (at most 64), starting with a letter or digit")
    return name


def _choice(value: Any, choices: dict[str, str], fld: str, default: str) -> str:
    if value in (None, ""):
        return default
    text = str(value).strip().lower()
    if text not in {c.lower() for c in choices}:
        raise ValidationError(f"'{value}' is not allowed", field=fld, fix="choose one of: " + ", ".join(choices))
    return next(c for c in choices if c.lower() == text)


def _ports(value: Any) -> int | None:
    """F: only positive integers 1-5, or nothing."""
    if value in (None, ""):
        return None
    fix = f"a whole number from 1 to {MAX_PORTS}, or leave it empty"
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
        raise ValidationError(f"'{value}' is not a whole number", field="ports", fix=fix)
    n = int(value)
    if not 1 <= n <= MAX_PORTS:
        raise ValidationError(f"must be from 1 to {MAX_PORTS}, got {n}", field="ports", fix=fix)
    return n


def _flag(value: Any, fld: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (None, ""):
        return False
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValidationError(f"'{value}' is not yes or no", field=fld, fix="true or false")


def _description(value: Any) -> str:
    text = "" if value is None else str(value)
    if len(text) > MAX_DESCRIPTION:
        raise ValidationError(f"must be at most {MAX_DESCRIPTION} characters", field="description")
    return text


def _public(path: Path) -> bool:
    """Readable by every user: the file o+r, and every folder on the way o+x."""
    try:
        if not path.is_file() or not path.stat().st_mode & stat.S_IROTH:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents)
    except OSError:
        return False
