"""A version's file browser (F212): new folder, upload, download, cut/copy/paste, delete and
search, every path confined to the version's directory (symlinks out of it are refused)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.errors import NotFound, PermissionDenied, ValidationError

MAX_LIST = 5000


@dataclass
class FileEntry:
    path: str  # relative to the version directory, "/"-separated
    is_dir: bool
    size: int

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "is_dir": self.is_dir, "size": self.size}


class VersionFiles:
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    def resolve(self, rel: str | None, field: str = "path", must_exist: bool = True) -> Path:
        text = (rel or "").strip().lstrip("/")
        if "\x00" in text:
            raise ValidationError("contains a NUL character", field=field)
        target = (self.root / text).resolve()
        if target != self.root and not target.is_relative_to(self.root):
            raise PermissionDenied(f"{rel} is outside the version's directory", field=field,
                                   fix="give a path inside the version (e.g. 1/model.onnx)")
        if must_exist and not target.exists():
            raise NotFound(f"{rel or '/'} does not exist in this version", field=field)
        return target

    def _rel(self, p: Path) -> str:
        return p.relative_to(self.root).as_posix()

    def list(self, rel: str | None = None) -> list[FileEntry]:
        where = self.resolve(rel)
        if not where.is_dir():
            raise ValidationError(f"{rel} is not a folder", field="path")
        out = []
        for child in sorted(where.iterdir(), key=lambda c: (not c.is_dir(), c.name.lower()))[:MAX_LIST]:
            st = child.lstat()
            out.append(FileEntry(self._rel(child), child.is_dir(), st.st_size))
        return out

    def search(self, text: str) -> list[FileEntry]:
        if not text.strip():
            raise ValidationError("is empty", field="q", fix="type part of a file name")
        needle = text.strip().lower()
        out = []
        for dirpath, dirs, files in os.walk(self.root):
            for name in dirs + files:
                if needle in name.lower():
                    p = Path(dirpath) / name
                    out.append(FileEntry(self._rel(p), p.is_dir(), p.lstat().st_size))
                    if len(out) >= MAX_LIST:
                        return out
        return sorted(out, key=lambda e: e.path)

    def mkdir(self, rel: str | None, name: str) -> FileEntry:
        _check_name(name)
        target = self.resolve(rel) / name
        if target.exists():
            raise ValidationError(f"{name} already exists", field="name", fix="choose another name")
        target.mkdir()
        return FileEntry(self._rel(target), True, 0)

    def upload(self, rel: str | None, filename: str, stream: BinaryIO, max_bytes: int) -> FileEntry:
        _check_name(filename)
        folder = self.resolve(rel)
        if not folder.is_dir():
            raise ValidationError(f"{rel} is not a folder", field="path")
        target = folder / filename
        tmp = folder / f".{filename}.upload"
        size = 0
        with open(tmp, "wb") as out:
            while chunk := stream.read(1 << 20):
                size += len(chunk)
                if size > max_bytes:
                    out.close()
                    tmp.unlink()
                    raise ValidationError(f"{filename} is larger than {max_bytes >> 20} MB", field="file")
                out.write(chunk)
        tmp.replace(target)
        return FileEntry(self._rel(target), False, size)

    def file(self, rel: str) -> Path:
        p = self.resolve(rel)
        if not p.is_file():
            raise ValidationError(f"{rel} is a folder", field="path", fix="download a file")
        return p

    def paste(self, sources: list[str], dest: str | None, move: bool) -> list[FileEntry]:
        """Copy (or, after Cut, move) files/folders into the folder `dest`. All-or-nothing checks."""
        if not sources:
            raise ValidationError("nothing to paste", field="paths", fix="cut or copy files first")
        folder = self.resolve(dest, field="dest")
        if not folder.is_dir():
            raise ValidationError(f"{dest} is not a folder", field="dest")
        pairs = []
        for rel in sources:
            src = self.resolve(rel, field="paths")
            if src == self.root:
                raise ValidationError("cannot paste the version's own folder", field="paths")
            target = folder / src.name
            if target.exists():
                raise ValidationError(f"{self._rel(target)} already exists", field="dest",
                                      fix="delete it first or paste into another folder")
            if src.is_dir() and (folder == src or folder.is_relative_to(src)):
                raise ValidationError(f"cannot paste {rel} into itself", field="dest")
            pairs.append((src, target))
        out = []
        for src, target in pairs:
            if move:
                shutil.move(src, target)
            elif src.is_dir():
                shutil.copytree(src, target, symlinks=True)
            else:
                shutil.copy2(src, target)
            out.append(FileEntry(self._rel(target), target.is_dir(), target.lstat().st_size))
        return out

    def delete(self, paths: list[str]) -> int:
        targets = [self.resolve(rel, field="paths") for rel in paths]
        if not targets:
            raise ValidationError("nothing to delete", field="paths", fix="choose files")
        if self.root in targets:
            raise ValidationError("cannot delete the version's own folder here", field="paths",
                                  fix="delete the version with 'Delete model files' instead")
        for t in targets:
            if t.is_dir() and not t.is_symlink():
                shutil.rmtree(t)
            else:
                t.unlink()
        return len(targets)


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\x00" in name or len(name) > 255:
        raise ValidationError(f"'{name}' is not a file name", field="name",
                              fix="use a name without '/' (at most 255 characters)")
