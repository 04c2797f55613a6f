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
import secrets
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.config import Config
from core.errors import HpcaiError, PermissionDenied, ValidationError
from core.identity import IdentityMap

SAFE_NAME = re.compile(r"^[A-Za-z0-9._+-][A-Za-z0-9 ._+@-]{0,254}$")
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
MAX_UPLOAD_FILES = 10_000
MAX_DEPTH = 32
MAX_ENTRIES = 1000
# Resource forks and Finder files that macOS puts into zip archives: not part of a project.
ZIP_JUNK = ("__MACOSX",)


@dataclass
class Upload:
    """What an upload made: the project directory to pick, the files written, their bytes."""

    project: Path
    saved: list[Path]
    bytes: int


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


def account_owner(config: Config, user: str) -> tuple[int, int] | None:
    """(uid, gid) of the Unix identity an account's jobs run as, when the portal runs as root and
    the account has one: what the platform creates for the account belongs to it."""
    if os.getuid() != 0:
        return None
    try:
        run_as = IdentityMap(config.identity).for_job(user, "portal")
    except HpcaiError:
        return None
    return run_as.uid, run_as.gid


class Workspace:
    def __init__(self, config: Config):
        self.config = config

    def home(self, user: str) -> Path:
        """The user's own workspace under the data area (created on first use)."""
        path = self.config.data_dir / "workspace" / user
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            owner = account_owner(self.config, user)
            if owner:  # the account's jobs write their results here
                os.chown(path, *owner)
                os.chmod(path, 0o700)
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
        self.check_name(name)
        base = self.check(user, parent, field="path")
        target = base / name
        try:
            target.mkdir(exist_ok=True)
        except OSError as exc:
            raise ValidationError(f"cannot create {name}: {exc.strerror}", field="name") from exc
        return target

    def limits(self) -> tuple[int, int]:
        """(bytes, files) one upload may hold: [portal] upload_max_mb and upload_max_files."""
        portal = self.config.raw.get("portal", {})
        return (int(portal.get("upload_max_mb", MAX_UPLOAD_BYTES >> 20)) << 20,
                int(portal.get("upload_max_files", MAX_UPLOAD_FILES)))

    def upload(self, user: str, directory: str, filename: str, stream: BinaryIO) -> Path:
        """Write one uploaded file into `directory` (a plain name only: no paths, no dot-dot)."""
        self.check_name(filename)
        return self.upload_tree(user, directory, [(filename, stream)]).saved[0]

    def upload_tree(self, user: str, directory: str, files: list[tuple[str, BinaryIO]]) -> Upload:
        """Files with relative paths (a browser's folder upload) written under `directory`.

        Every path is checked before a byte is written: no absolute path, no `..`, no name the
        picker could not show. The files land in a staging directory first, so an upload over
        the size limit leaves nothing behind, and are moved into place only through real
        directories (a symbolic link on the way is refused).
        """
        base = self._target(user, directory)
        max_bytes, max_files = self.limits()
        if not files:
            raise ValidationError("no file was sent", field="file", fix="choose at least one file")
        if len(files) > max_files:
            raise ValidationError(f"has {len(files)} files; at most {max_files} may be uploaded at once",
                                  field="file", fix="upload a zip archive, or fewer files ([portal] upload_max_files)")
        parts = [relative_parts(rel) for rel, _ in files]
        with _Staging(base) as staging:
            total = 0
            for rel, (_, stream) in zip(parts, files):
                total = staging.write(rel, stream, total, max_bytes)
            saved = staging.commit(base, account_owner(self.config, user))
        tops = {p[0] for p in parts}
        project = base / parts[0][0] if len(tops) == 1 and all(len(p) > 1 for p in parts) else base
        return Upload(project=project, saved=saved, bytes=total)

    def unpack_zip(self, user: str, directory: str, filename: str, stream: BinaryIO) -> Upload:
        """A zip archive unpacked under `directory`, refusing zip-slip, links and bombs.

        An archive holding one top-level folder unpacks as that folder; any other archive
        unpacks into a folder named after it (`proj.zip` -> `proj/`). The returned project
        is that folder.
        """
        self.check_name(filename)
        if not filename.lower().endswith(".zip") or len(filename) < 5:
            raise ValidationError(f"'{filename}' is not a .zip file", field="file",
                                  fix="pack the project directory as a zip archive")
        base = self._target(user, directory)
        max_bytes, max_files = self.limits()
        with _Staging(base) as staging:
            archive = staging.spool(stream, max_bytes)
            try:
                zf = zipfile.ZipFile(archive)
            except (zipfile.BadZipFile, OSError) as exc:
                raise ValidationError(f"'{filename}' is not a readable zip archive ({exc})", field="file",
                                      fix="pack the project directory as a zip archive") from exc
            with zf:
                members = _zip_members(zf, filename, max_bytes, max_files)
                tops = {p[0] for _, p in members}
                single = len(tops) == 1 and all(len(p) > 1 or info.is_dir() for info, p in members)
                prefix: tuple[str, ...] = () if single and members else (filename[:-4],)
                if prefix:
                    self.check_name(prefix[0])
                total = 0
                for info, rel in members:
                    if info.is_dir():
                        staging.mkdir(prefix + rel)
                        continue
                    try:
                        with zf.open(info) as src:
                            total = staging.write(prefix + rel, src, total, max_bytes)
                    except (zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError) as exc:
                        raise ValidationError(f"cannot unpack {info.filename}: {exc}", field="file") from exc
            archive.unlink()
            saved = staging.commit(base, account_owner(self.config, user))
        top = prefix[0] if prefix else (members[0][1][0] if members else "")
        return Upload(project=base / top if top else base, saved=saved, bytes=total)

    def _target(self, user: str, directory: str) -> Path:
        base = self.check(user, directory, field="path")
        if not base.is_dir():
            raise ValidationError(f"{base} is not a directory", field="path")
        return base

    @staticmethod
    def check_name(name: str) -> None:
        """A plain file name (no folders): what a single-file upload or a new folder may be called."""
        if not name or name in (".", "..") or "/" in name or "\\" in name or not SAFE_NAME.match(name):
            raise ValidationError(f"'{name}' is not an allowed file name", field="file",
                                  fix="use letters, digits, '.', '_', '-', '+' and no path separators")


def relative_parts(rel: str, field: str = "file") -> tuple[str, ...]:
    """`proj/src/a.py` -> its parts; absolute paths, `..`, `.`, empty parts and odd names refused."""
    text = rel or ""
    if "\\" in text or "\x00" in text:
        raise ValidationError(f"'{text}' has a backslash or NUL in its path", field=field,
                              fix="use relative paths with '/' between folders")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        raise PermissionDenied(f"'{text}' is an absolute path", field=field,
                               fix="upload paths relative to the folder you chose")
    parts = tuple(text.split("/"))
    if any(p in ("", ".", "..") for p in parts):
        raise PermissionDenied(f"'{text}' is not a plain relative path (empty, '.' or '..' parts)",
                               field=field, fix="upload paths inside the folder you chose")
    if len(parts) > MAX_DEPTH:
        raise ValidationError(f"'{text}' is nested more than {MAX_DEPTH} folders deep", field=field)
    for p in parts:
        if not SAFE_NAME.match(p):
            raise ValidationError(f"'{text}': '{p}' is not an allowed file name", field=field,
                                  fix="use letters, digits, spaces, '.', '_', '-', '+', '@'")
    return parts


def _zip_members(zf: zipfile.ZipFile, filename: str, max_bytes: int,
                 max_files: int) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """The archive's entries with checked paths; the whole archive is refused on one bad entry."""
    members = []
    declared = 0
    for info in zf.infolist():
        name = info.filename.rstrip("/") if info.is_dir() else info.filename
        if name.split("/")[0] in ZIP_JUNK or not name:
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise PermissionDenied(f"{filename}: '{info.filename}' is a symbolic link", field="file",
                                   fix="pack the files the link points to instead of the link")
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: made without a file type
            raise PermissionDenied(f"{filename}: '{info.filename}' is not a regular file", field="file")
        if info.flag_bits & 0x1:
            raise ValidationError(f"{filename}: '{info.filename}' is encrypted", field="file",
                                  fix="pack the project without a password")
        try:
            parts = relative_parts(name)
        except (ValidationError, PermissionDenied) as exc:
            raise type(exc)(f"{filename}: {exc.message}", field="file", fix=exc.fix) from None
        declared += info.file_size
        members.append((info, parts))
    files = sum(1 for info, _ in members if not info.is_dir())
    if files > max_files:
        raise ValidationError(f"{filename} holds {files} files; at most {max_files} may be unpacked",
                              field="file", fix="ask the site admin ([portal] upload_max_files)")
    if declared > max_bytes:
        raise ValidationError(f"{filename} unpacks to {declared >> 20} MB; the limit is {max_bytes >> 20} MB",
                              field="file", fix="upload a smaller project ([portal] upload_max_mb)")
    return members


class _Staging:
    """A hidden directory inside the target where an upload is assembled before it is moved in."""

    def __init__(self, base: Path):
        self.base = base
        self.root = base / f".hpcai-upload-{secrets.token_hex(6)}"

    def __enter__(self) -> "_Staging":
        try:
            self.root.mkdir(mode=0o700)
        except OSError as exc:
            raise ValidationError(f"cannot write into {self.base}: {exc.strerror}", field="path") from exc
        self.files: list[tuple[str, ...]] = []
        self.seen: set[tuple[str, ...]] = set()
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def mkdir(self, rel: tuple[str, ...]) -> None:
        self.root.joinpath(*rel).mkdir(parents=True, exist_ok=True)

    def spool(self, stream: BinaryIO, max_bytes: int) -> Path:
        path = self.root / ".archive"
        self._copy(stream, path, 0, max_bytes)
        return path

    def write(self, rel: tuple[str, ...], stream: BinaryIO, total: int, max_bytes: int) -> int:
        target = self.root.joinpath(*rel)
        if rel in self.seen or target.is_dir():
            raise ValidationError(f"'{'/'.join(rel)}' appears twice in the upload", field="file")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ValidationError(f"'{'/'.join(rel)}' needs a folder where the upload has a file",
                                  field="file") from None
        self.files.append(rel)
        self.seen.add(rel)
        return self._copy(stream, target, total, max_bytes)

    @staticmethod
    def _copy(stream: BinaryIO, target: Path, total: int, max_bytes: int) -> int:
        try:
            with open(target, "xb") as out:
                while chunk := stream.read(1 << 20):
                    total += len(chunk)
                    if total > max_bytes:
                        raise ValidationError(f"the upload is larger than {max_bytes >> 20} MB, the site's limit",
                                              field="file",
                                              fix="upload a smaller project, or ask the site admin "
                                                  "([portal] upload_max_mb)")
                    out.write(chunk)
        except OSError as exc:
            raise ValidationError(f"cannot write {target.name}: {exc.strerror}", field="file") from exc
        return total

    def commit(self, base: Path, owner: tuple[int, int] | None) -> list[Path]:
        """Move every staged file into `base`, creating real folders; links on the way refused.
        What the upload creates belongs to the user (when the portal runs as root)."""
        for rel in self.files:  # check everything before the first move
            self._check_way(base, rel)
        folders = sorted({Path(dirpath).relative_to(self.root).parts for dirpath, _d, _f in os.walk(self.root)})
        for rel in folders:  # parents first; also the empty folders of a zip archive
            if not rel:
                continue
            self._check_way(base, rel, is_file=False)
            folder = base.joinpath(*rel)
            if not folder.is_dir():
                folder.mkdir()
                if owner:
                    os.chown(folder, *owner)
        saved = []
        for rel in self.files:
            target = base.joinpath(*rel)
            try:
                if owner:
                    os.chown(self.root.joinpath(*rel), *owner)
                os.replace(self.root.joinpath(*rel), target)
            except OSError as exc:
                raise ValidationError(f"cannot write {'/'.join(rel)}: {exc.strerror}", field="file") from exc
            saved.append(target)
        return saved

    @staticmethod
    def _check_way(base: Path, rel: tuple[str, ...], is_file: bool = True) -> None:
        here = base
        for i, part in enumerate(rel):
            here = here / part
            shown = "/".join(rel[:i + 1])
            if here.is_symlink():
                raise PermissionDenied(f"'{shown}' is a symbolic link in {base}", field="file",
                                       fix="upload into a folder without links, or remove the link")
            wants_dir = i < len(rel) - 1 or not is_file
            if here.exists() and wants_dir != here.is_dir():
                what = "file" if wants_dir else "folder"
                raise ValidationError(f"'{shown}' is a {what} in {base}", field="file",
                                      fix="rename or remove it first")
