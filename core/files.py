"""The directories a portal user may browse, pick as a project directory and upload into.

Each user has roots: their workspace in the platform's data area (always) and the roots the
site lists in [portal] roots of etc/hpcai.toml (`{user}` and `{home}` are expanded; `{home}` is
the Unix home of the login when one exists). Every path is resolved (symlinks, `..`) before it
is compared with the roots, so no path leaves them.
"""

from __future__ import annotations

import os
import pwd
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.config import Config
from core.errors import PermissionDenied, ValidationError

SAFE_NAME = re.compile(r"^[A-Za-z0-9._+-][A-Za-z0-9 ._+@-]{0,254}$")
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
MAX_ENTRIES = 1000


@dataclass
class Entry:
    name: str
    path: str
    is_dir: bool
    size: int


def _unix_home(user: str) -> str | None:
    try:
        return pwd.getpwnam(user).pw_dir
    except KeyError:
        return None


class Workspace:
    def __init__(self, config: Config):
        self.config = config

    def home(self, user: str) -> Path:
        """The user's own workspace under the data area (created on first use)."""
        path = self.config.data_dir / "workspace" / user
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve()

    def roots(self, user: str) -> list[Path]:
        roots = [self.home(user)]
        home = _unix_home(user)
        for pattern in self.config.raw.get("portal", {}).get("roots", []):
            if "{home}" in pattern and not home:
                continue
            text = pattern.replace("{user}", user).replace("{home}", home or "")
            p = Path(os.path.expanduser(text))
            if p.is_dir() and p.resolve() not in roots:
                roots.append(p.resolve())
        return roots

    def check(self, user: str, path: str | os.PathLike[str], field: str = "workdir",
              must_exist: bool = True) -> Path:
        """`path` resolved, if it lies inside one of the user's roots; refused otherwise."""
        text = str(path or "")
        if not text.strip():
            raise ValidationError("is required", field=field, fix="choose a directory")
        if "\x00" in text:
            raise ValidationError("contains a NUL character", field=field)
        raw = Path(os.path.expanduser(text))
        if not raw.is_absolute():
            raw = self.home(user) / raw
        try:
            resolved = raw.resolve(strict=False)
        except (OSError, RuntimeError) as exc:
            raise ValidationError(f"cannot resolve {text}: {exc}", field=field) from exc
        if not any(resolved == r or resolved.is_relative_to(r) for r in self.roots(user)):
            raise PermissionDenied(f"{text} is outside your directories", field=field,
                                   fix="choose a directory under " + ", ".join(str(r) for r in self.roots(user)))
        try:
            exists = resolved.exists()
        except OSError as exc:  # e.g. a name longer than the file system allows
            raise ValidationError(f"cannot use this path: {exc.strerror}", field=field) from exc
        if must_exist and not exists:
            raise ValidationError(f"{text} does not exist", field=field, fix="choose an existing directory")
        return resolved

    def list(self, user: str, path: str | None = None) -> tuple[Path, list[Entry]]:
        where = self.check(user, path or self.home(user), field="path")
        if not where.is_dir():
            raise ValidationError(f"{where} is not a directory", field="path")
        entries: list[Entry] = []
        try:
            children = sorted(os.scandir(where), key=lambda e: (not e.is_dir(), e.name.lower()))
        except OSError as exc:
            raise PermissionDenied(f"cannot read {where}: {exc.strerror}", field="path") from exc
        for child in children[:MAX_ENTRIES]:
            try:
                st = child.stat()
            except OSError:
                continue
            entries.append(Entry(child.name, str(where / child.name), stat.S_ISDIR(st.st_mode), st.st_size))
        return where, entries

    def mkdir(self, user: str, parent: str, name: str) -> Path:
        self._check_name(name)
        base = self.check(user, parent, field="path")
        target = base / name
        try:
            target.mkdir(exist_ok=True)
        except OSError as exc:
            raise ValidationError(f"cannot create {name}: {exc.strerror}", field="name") from exc
        return target

    def upload(self, user: str, directory: str, filename: str, stream: BinaryIO) -> Path:
        """Write one uploaded file into `directory` (a plain name only: no paths, no dot-dot)."""
        self._check_name(filename)
        base = self.check(user, directory, field="path")
        if not base.is_dir():
            raise ValidationError(f"{base} is not a directory", field="path")
        target = base / filename
        if target.is_symlink():
            raise PermissionDenied(f"{filename} is a symbolic link", field="file")
        written = 0
        tmp = base / f".{filename}.part"
        try:
            with open(tmp, "wb") as out:
                while chunk := stream.read(1 << 20):
                    written += len(chunk)
                    if written > MAX_UPLOAD_BYTES:
                        raise ValidationError(f"is larger than {MAX_UPLOAD_BYTES >> 20} MB", field="file")
                    out.write(chunk)
            tmp.replace(target)
        except OSError as exc:
            raise ValidationError(f"cannot write {filename}: {exc.strerror}", field="file") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return target

    @staticmethod
    def _check_name(name: str) -> None:
        if not name or name in (".", "..") or "/" in name or "\\" in name or not SAFE_NAME.match(name):
            raise ValidationError(f"'{name}' is not an allowed file name", field="file",
                                  fix="use letters, digits, '.', '_', '-', '+' and no path separators")
