"""The Files page: browse the user's allowed roots, new folder, upload (files, a folder, a zip),
download, rename, move, delete, edit a text file, and "use as project directory" (the training
form opens with it). Every rule is in core (files.Workspace, filemanager.FileManager); errors
come back as a flash message in words, and nothing is changed on error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for

from core.errors import HpcaiError
from core.filemanager import FileManager
from portal.web import platform, user

bp = Blueprint("files", __name__)


def manager() -> FileManager:
    return FileManager(platform().workspace)


def _back(path: str | None) -> Any:
    return redirect(url_for("files.index", path=path or None))


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


@bp.route("/files")
def index() -> Any:
    ws = platform().workspace
    try:
        where, entries = ws.list(user(), request.args.get("path") or None)
    except HpcaiError as exc:
        flash(exc.text, "error")
        where, entries = ws.list(user(), None)
    roots = ws.roots(user())
    root = next((r for r in roots if where == r or where.is_relative_to(r)), roots[0])
    crumbs = [(root.name or str(root), str(root))]
    for part in where.relative_to(root).parts:
        crumbs.append((part, str(Path(crumbs[-1][1]) / part)))
    return render_template("files.html", where=str(where), root=str(root), roots=[str(r) for r in roots],
                           crumbs=crumbs, entries=entries, size=_size,
                           parent=str(where.parent) if where != root else None)


@bp.route("/files/do", methods=["POST"])
def action() -> Any:
    """One form, one operation: mkdir, rename, move, delete, upload (files/folder/zip)."""
    form, here = request.form, request.form.get("here", "")
    op = form.get("op", "")
    try:
        fm, ws = manager(), platform().workspace
        if op == "mkdir":
            made = fm.mkdir(user(), here, form.get("name", "").strip())
            flash(f"Folder {made.name} created.")
        elif op == "rename":
            made = fm.rename(user(), form.get("path", ""), form.get("name", "").strip())
            flash(f"Renamed to {made.name}.")
        elif op == "move":
            made = fm.move(user(), form.get("path", ""), form.get("destination", "").strip())
            flash(f"Moved to {made.parent}.")
        elif op == "delete":
            fm.delete(user(), form.get("path", ""))
            flash(f"Deleted {Path(form.get('path', '')).name}.")
        elif op in ("upload", "folder"):
            files = [f for f in request.files.getlist("file") if f.filename]
            if not files:
                raise HpcaiError("no file was chosen", field="file", fix="choose one or more files first")
            if op == "upload":
                for f in files:
                    ws.check_name(f.filename or "")
            done = ws.upload_tree(user(), here, [(f.filename or "", f.stream) for f in files])
            flash(f"Uploaded {len(done.saved)} file{'s' if len(done.saved) != 1 else ''}.")
        elif op == "unzip":
            archive = request.files.get("file")
            if archive is None or not archive.filename:
                raise HpcaiError("no zip archive was chosen", field="file", fix="choose a .zip file first")
            done = ws.unpack_zip(user(), here, archive.filename, archive.stream)
            flash(f"Unpacked {len(done.saved)} files into {done.project.name}.")
        else:
            raise HpcaiError(f"'{op}' is not something the Files page does", field="op")
    except HpcaiError as exc:
        flash(exc.message[:1].upper() + exc.message[1:] + (f" ({exc.fix})" if exc.fix else "") + ".", "error")
    return _back(here)


@bp.route("/files/download")
def download() -> Any:
    try:
        path = manager().download_path(user(), request.args.get("path", ""))
    except HpcaiError as exc:
        flash(exc.text, "error")
        return _back(str(Path(request.args.get("path", "")).parent))
    return send_file(path, as_attachment=True, download_name=path.name)


@bp.route("/files/edit", methods=["GET", "POST"])
def edit() -> Any:
    path = request.values.get("path", "")
    fm = manager()
    if request.method == "POST":
        try:
            saved = fm.write_text(user(), path, request.form.get("content", "").replace("\r\n", "\n"))
            flash(f"Saved {saved.name}.")
            return redirect(url_for("files.edit", path=str(saved)))
        except HpcaiError as exc:
            return render_template("file_edit.html", path=path, content=request.form.get("content", ""),
                                   error=exc.text), exc.status
    try:
        content = fm.read_text(user(), path)
    except HpcaiError as exc:
        flash(exc.text, "error")
        return _back(str(Path(path).parent))
    return render_template("file_edit.html", path=path, content=content, error=None)
