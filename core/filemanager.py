"""The Files application (like Open OnDemand's Files app) over a user's allowed roots: rename,
move, delete, read and edit text files, download. Browsing, new folder and uploads are the
Workspace's (core/files.py); every path goes through Workspace.check, so nothing here leaves
the roots, and a root itself is never renamed, moved or deleted.

New and edited files are given to the user's Unix account when the portal runs as root, like
uploads, so what a user makes here is theirs in the shell and in their jobs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from core.errors import PermissionDenied, ValidationError
from core.files import Workspace, account_owner

MAX_EDIT_BYTES = 2 * 1024 * 1024  # larger files are downloaded, not edited in the browser


class FileManager:
    def __init__(self, workspace: Workspace):
        self.ws = workspace

    def _not_root(self, user: str, path: Path, field: str) -> None:
        if path in self.ws.roots(user):
            raise PermissionDenied(f"{path} is one of your top directories", field=field,
                                   fix="work on the files and folders inside it")

    def _give(self, user: str, path: Path) -> None:
        owner = account_owner(self.ws.config, user)
        if owner is not None:
            os.chown(path, *owner, follow_symlinks=False)

    def mkdir(self, user: str, parent: str, name: str) -> Path:
        target = self.ws.mkdir(user, parent, name)
        self._give(user, target)
        return target

    def rename(self, user: str, path: str, new_name: str) -> Path:
        self.ws.check_name(new_name)
        src = self.ws.check(user, path, field="path")
        self._not_root(user, src, "path")
        target = src.parent / new_name
        if target.exists():
            raise ValidationError(f"{new_name} already exists here", field="name", fix="choose another name")
        src.rename(target)
        return target

    def move(self, user: str, path: str, directory: str) -> Path:
        src = self.ws.check(user, path, field="path")
        self._not_root(user, src, "path")
        dest_dir = self.ws.check(user, directory, field="destination")
        if not dest_dir.is_dir():
            raise ValidationError(f"{dest_dir} is not a folder", field="destination", fix="choose a folder")
        if src.is_dir() and (dest_dir == src or dest_dir.is_relative_to(src)):
            raise ValidationError("a folder cannot move into itself", field="destination",
                                  fix="choose a folder outside it")
        target = dest_dir / src.name
        if target.exists():
            raise ValidationError(f"{src.name} already exists in {dest_dir}", field="destination",
                                  fix="rename it first, or choose another folder")
        shutil.move(str(src), str(target))
        return target

    def delete(self, user: str, path: str) -> None:
        target = self.ws.check(user, path, field="path")
        self._not_root(user, target, "path")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()

    def download_path(self, user: str, path: str) -> Path:
        target = self.ws.check(user, path, field="path")
        if not target.is_file():
            raise ValidationError(f"{target.name} is not a file", field="path", fix="download files one by one")
        return target

    def read_text(self, user: str, path: str) -> str:
        target = self.download_path(user, path)
        if target.stat().st_size > MAX_EDIT_BYTES:
            raise ValidationError(f"{target.name} is larger than {MAX_EDIT_BYTES >> 20} MB", field="path",
                                  fix="download it and edit it on your computer")
        data = target.read_bytes()
        if b"\x00" in data[:8192]:
            raise ValidationError(f"{target.name} is not a text file", field="path", fix="download it instead")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(f"{target.name} is not UTF-8 text", field="path", fix="download it instead") from None

    def write_text(self, user: str, path: str, text: str) -> Path:
        """Save an edited (or new) text file, atomically: a reader never sees half a file."""
        if len(text.encode("utf-8")) > MAX_EDIT_BYTES:
            raise ValidationError(f"the text is larger than {MAX_EDIT_BYTES >> 20} MB", field="content")
        target = self.ws.check(user, path, field="path", must_exist=False)
        if target.is_dir():
            raise ValidationError(f"{target.name} is a folder", field="path")
        self.ws.check(user, target.parent, field="path")  # the folder exists and is inside the roots
        self.ws.check_name(target.name)
        tmp = target.with_name(f".{target.name}.hpcai-edit")
        tmp.write_text(text, encoding="utf-8")
        if target.exists():
            shutil.copymode(target, tmp)
        self._give(user, tmp)
        os.replace(tmp, target)
        return target
