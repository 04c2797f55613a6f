"""Green packages: which archives are accepted, and where the start file is inside one.

Registration opens the archive (never unpacks it) so a user learns at once that the start file
is missing or the archive is unreadable, not when a training job fails on the cluster.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from core.errors import ValidationError

#: spec 04 §1.1 (F132): the program package's suffixes, longest first so tar.gz is not "gz"
SUFFIXES = ("tar.gz", "tar.bz2", "tar.xz", "zip", "tar")
#: F133: the start file's extensions
START_EXTENSIONS = ("sh", "bat", "cmd", "exe")
MAX_MEMBERS = 100_000  # a listing longer than this is no simulator package (and would be slow)
SHOWN = 12  # members named in a "start file not found" message


def suffix_of(filename: str) -> str | None:
    low = filename.lower()
    return next((s for s in SUFFIXES if low.endswith("." + s) and len(low) > len(s) + 1), None)


def check_suffix(filename: str, field: str = "archive") -> str:
    suffix = suffix_of(filename)
    if suffix is None:
        raise ValidationError(f"'{Path(filename).name}' is not an accepted program package", field=field,
                              fix="pack the simulator as .zip, .tar, .tar.gz, .tar.bz2 or .tar.xz")
    return suffix


def check_start_name(name: str, field: str = "start_file") -> str:
    """A file name (no folders) whose extension is one of START_EXTENSIONS."""
    text = str(name or "").strip()
    if not text:
        raise ValidationError("is required", field=field, fix="give the launcher's file name, e.g. run.sh")
    if "/" in text or "\\" in text or text in (".", ".."):
        raise ValidationError(f"'{text}' is not a file name", field=field,
                              fix="give the name only (run.sh), not a path inside the package")
    ext = text.rsplit(".", 1)[-1].lower() if "." in text else ""
    if ext not in START_EXTENSIONS:
        raise ValidationError(f"'{text}' has {'extension .' + ext if ext else 'no extension'}", field=field,
                              fix="the start file must end in ." + ", .".join(START_EXTENSIONS))
    return text


def members(path: Path, suffix: str, field: str = "archive") -> list[str]:
    """The archive's regular files (relative POSIX paths); refuses unreadable or unsafe archives."""
    names: list[str] = []
    try:
        if suffix == "zip":
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    _bound(names, path)
                    if not info.is_dir():
                        names.append(_safe(info.filename, path, field))
        else:
            mode = {"tar": "r:", "tar.gz": "r:gz", "tar.bz2": "r:bz2", "tar.xz": "r:xz"}[suffix]
            with tarfile.open(path, mode) as tf:
                for info in tf:
                    _bound(names, path)
                    if info.isfile():
                        names.append(_safe(info.name, path, field))
                    elif info.issym() or info.islnk():
                        _safe(info.name, path, field)  # links stay; their names must be safe too
                        names.append(str(PurePosixPath(info.name)))
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        kind = "zip" if suffix == "zip" else suffix
        raise ValidationError(f"{path.name} is not a readable {kind} archive ({exc})", field=field,
                              fix=f"pack the simulator again as .{suffix}, or name the file after its real type")
    return names


def _bound(names: list[str], path: Path) -> None:
    if len(names) >= MAX_MEMBERS:
        raise ValidationError(f"{path.name} holds more than {MAX_MEMBERS} files", field="archive",
                              fix="pack only the simulator's own files")


def _safe(name: str, path: Path, field: str) -> str:
    """A member the job side may unpack: relative, no '..' (zip-slip)."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts:
        raise ValidationError(f"{path.name} holds '{name}', which would unpack outside its folder", field=field,
                              fix="pack the simulator with relative paths only")
    return str(p)


def find_start(names: list[str], start_file: str, archive: Path) -> str:
    """The member path of `start_file` (the shallowest of that name); says what the archive holds
    when it is not there."""
    hits = sorted((n for n in names if PurePosixPath(n).name == start_file), key=lambda n: (n.count("/"), n))
    if hits:
        return hits[0]
    shown = ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
    raise ValidationError(f"{archive.name} has no file named '{start_file}'; it holds "
                          + (shown or "no files"), field="start_file",
                          fix="give the name of the launcher inside the package, or add it to the package")
