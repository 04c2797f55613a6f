"""Data-file datasets (spec 05 §1.1, §2.1, §3): a directory on the shared file system.

Suffix filters per category, identical headers across numeric files (the error names the
first file that differs), the four annotation modes and the TFRecord pair. Previews read the
first rows of one file with the csv module and stop: a 1 GB file costs what its first rows do.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterator

from core.api import DataFile, DatasetBackend, DatasetContext, Table
from core.datakinds import ANNOTATED, ANNOTATIONS, SUFFIXES, check_annotation, check_suffixes, label_for, suffix_of
from core.errors import ValidationError
from core.hookspecs import hookimpl

ALL_SUFFIXES = sorted({s for v in SUFFIXES.values() for s in v})
#: rows checked for a consistent column count when a numeric dataset is saved
CHECKED_ROWS = 1000
MAX_LABEL_FILE = 64 * 1024 * 1024
COPY_CHUNK = 8 * 1024 * 1024
csv.field_size_limit(64 * 1024 * 1024)


def _delimiter(path: str) -> str:
    return "\t" if suffix_of(path) == "tsv" else ","


def _rows(path: Path, name: str) -> Iterator[list[str]]:
    """CSV/TSV rows of one file, as a stream; errors name the file and the line."""
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ValidationError(f"cannot read {name}: {exc.strerror}", field="directory",
                              fix="check the file's permissions") from exc
    with f:
        reader = csv.reader(f, delimiter=_delimiter(name), strict=True)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ValidationError(f"{name}, line {reader.line_num}: malformed CSV ({exc})",
                                      field="directory", fix="fix the quoting of that line") from exc
            except UnicodeDecodeError as exc:
                raise ValidationError(f"{name}, line {reader.line_num + 1}: not UTF-8 text", field="directory",
                                      fix="save the file as UTF-8") from exc
            yield row


class Files(DatasetBackend):
    name = "files"
    title = "Data file"
    description = "Files in a directory of the shared file system"
    categories = ("numeric", "image", "video", "audio", "text", "other")
    connection_based = False

    def option_schema(self) -> dict[str, Any]:
        files_kinds = [c for c in self.categories if c != "other"]
        return {
            "type": "object",
            "properties": {
                "directory": {"type": "string", "title": "Data directory", "x-widget": "directory",
                              "minLength": 1, "x-order": 10, "x-visible-if": {"category": files_kinds},
                              "x-fix": "choose the folder holding the data files"},
                "file_suffix": {"type": "array", "title": "File suffix", "x-widget": "checkboxes",
                                "items": {"type": "string", "enum": ALL_SUFFIXES}, "minItems": 1,
                                "x-suffixes": {k: list(v) for k, v in SUFFIXES.items() if k != "other"},
                                "x-order": 20, "x-visible-if": {"category": files_kinds},
                                "x-fix": "select at least one suffix"},
                "annotation": {"type": "string", "title": "Annotation mode", "enum": list(ANNOTATIONS),
                               "x-enum-labels": ANNOTATIONS, "default": "none", "x-order": 30,
                               "x-visible-if": {"category": list(ANNOTATED)}},
                "label_file": {"type": "string", "title": "Label file (JSON)", "x-widget": "file",
                               "x-order": 40, "x-visible-if": {"annotation": "file"}},
                "tf_file": {"type": "string", "title": "TF file", "x-widget": "file", "minLength": 1,
                            "x-order": 10, "x-visible-if": {"category": "other"},
                            "x-fix": "choose exactly one .tfrecord file"},
                "json_file": {"type": "string", "title": "JSON file", "x-widget": "file", "minLength": 1,
                              "x-order": 20, "x-visible-if": {"category": "other"},
                              "x-fix": "choose exactly one .json file"},
            },
            "required": ["directory", "tf_file", "json_file"],  # suffixes default to the category's
        }

    # --- saving -----------------------------------------------------------------------------

    def normalise(self, category: str, options: dict[str, Any], ctx: DatasetContext) -> dict[str, Any]:
        if category == "other":
            return self._tfrecord(options, ctx)
        directory = Path(ctx.check_path(str(options.get("directory") or ""), "directory"))
        if not directory.is_dir():
            raise ValidationError(f"{directory} is not a directory", field="directory",
                                  fix="choose the folder holding the data files")
        suffixes = check_suffixes(category, options.get("file_suffix") or SUFFIXES[category])
        out: dict[str, Any] = {"directory": str(directory), "file_suffix": suffixes}
        mode = check_annotation(category, options)  # refuses annotation of numeric data
        if category in ANNOTATED:
            out["annotation"] = mode
            if out["annotation"] == "file":
                label = Path(ctx.check_path(str(options["label_file"]), "label_file"))
                self._labels(label)  # readable and a JSON object
                out["label_file"] = str(label)
        first = next(self._walk(directory, suffixes), None)
        if first is None:
            raise ValidationError(f"no file in {directory} ends with " + ", ".join("." + s for s in suffixes),
                                  field="directory", fix="choose another directory or other suffixes")
        if category == "numeric":
            self._check_headers(directory, suffixes)
        return out

    def _tfrecord(self, options: dict[str, Any], ctx: DatasetContext) -> dict[str, Any]:
        out = {}
        for field, suffix in (("tf_file", "tfrecord"), ("json_file", "json")):
            raw = options.get(field)
            if isinstance(raw, list):
                if len(raw) != 1:
                    raise ValidationError(f"choose exactly one .{suffix} file, got {len(raw)}", field=field)
                raw = raw[0]
            path = Path(ctx.check_path(str(raw or ""), field))
            if not path.is_file():
                raise ValidationError(f"{path} is not a file", field=field, fix=f"choose one .{suffix} file")
            if suffix_of(path.name) != suffix:
                raise ValidationError(f"{path.name} is not a .{suffix} file", field=field,
                                      fix=f"choose exactly one .{suffix} file")
            if not os.access(path, os.R_OK):
                raise ValidationError(f"cannot read {path}", field=field)
            out[field] = str(path)
        try:  # the metadata file (meta.json) must at least be JSON
            json.loads(self._small(Path(out["json_file"]), "json_file"))
        except json.JSONDecodeError as exc:
            raise ValidationError(f"{Path(out['json_file']).name}, line {exc.lineno}: not valid JSON ({exc.msg})",
                                  field="json_file") from exc
        return out

    def _small(self, path: Path, field: str) -> str:
        if path.stat().st_size > MAX_LABEL_FILE:
            raise ValidationError(f"{path.name} is larger than {MAX_LABEL_FILE >> 20} MB", field=field)
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(f"cannot read {path}: {exc}", field=field) from exc

    def _labels(self, path: Path) -> dict[str, Any]:
        if suffix_of(path.name) != "json" or not path.is_file():
            raise ValidationError(f"{path} is not a JSON file", field="label_file", fix="choose a .json label file")
        try:
            data = json.loads(self._small(path, "label_file"))
        except json.JSONDecodeError as exc:
            raise ValidationError(f"{path.name}, line {exc.lineno}: not valid JSON ({exc.msg})",
                                  field="label_file") from exc
        if isinstance(data, list):  # [{"file": ..., "label": ...}] is the other common layout
            data = {str(d.get("file") or d.get("name")): d.get("label") for d in data if isinstance(d, dict)}
        if not isinstance(data, dict):
            raise ValidationError("the label file must map file names to labels", field="label_file",
                                  fix='write {"1-pic.png": "cat", ...}')
        return data

    def _check_headers(self, directory: Path, suffixes: list[str]) -> None:
        """F156: every file has the first file's header; rows have as many columns."""
        reference: tuple[str, list[str]] | None = None
        for path in self._walk(directory, suffixes):
            rel = path.relative_to(directory).as_posix()
            rows = _rows(path, rel)
            header = next(rows, None)
            if header is None:
                raise ValidationError(f"{rel} is empty", field="directory", fix="remove it or add a header row")
            if reference is None:
                reference = (rel, header)
            elif header != reference[1]:
                raise ValidationError(f"{rel} has a different header than {reference[0]}: "
                                      f"{header} vs {reference[1]}", field="directory",
                                      fix="all data files of a dataset must have the same header row")
            for number, row in enumerate(islice(rows, CHECKED_ROWS), start=2):
                if row and len(row) != len(header):
                    raise ValidationError(f"{rel}, line {number}: {len(row)} columns, the header has {len(header)}",
                                          field="directory", fix="fix that line")

    # --- reading ----------------------------------------------------------------------------

    def _walk(self, directory: Path, suffixes: list[str]) -> Iterator[Path]:
        """Matching files, sorted, depth first (sub-folders are classes under folder annotation)."""
        for root, dirs, files in os.walk(directory):
            dirs.sort()
            for name in sorted(files):
                if suffix_of(name) in suffixes:
                    yield Path(root) / name

    @staticmethod
    def _as_saved(value: str, field: str) -> Path:
        """A stored path, re-checked at every read: it was resolved (no links) when the dataset was
        saved, so a link swapped in since (the directory, or a folder above it, now pointing at
        another user's data or the system's) makes it resolve elsewhere, and it is refused."""
        path = Path(value)
        if path.resolve() != path:
            raise ValidationError(f"{value} has changed since the dataset was saved (it is a link now)",
                                  field=field, fix="save the dataset again with the real directory")
        return path

    def list_files(self, category: str, options: dict[str, Any], ctx: DatasetContext,
                   limit: int) -> tuple[list[DataFile], bool]:
        if category == "other":
            files = [self._as_saved(options[k], k) for k in ("tf_file", "json_file")]
            return [DataFile(f.name, f.stat().st_size) for f in files], False
        directory = self._as_saved(options["directory"], "directory")
        mode = options.get("annotation") or "none"
        labels = self._labels(self._as_saved(options["label_file"], "label_file")) if mode == "file" else None
        out: list[DataFile] = []
        suffixes = options["file_suffix"]
        cut = len(str(directory).rstrip("/")) + 1
        # Strings and os.stat, not Path objects: a 100 000-file labeling task lists in ~1 s.
        for root, dirs, files in os.walk(directory):
            dirs.sort()
            for name in sorted(files):
                if suffix_of(name) not in suffixes:
                    continue
                if len(out) == limit:
                    return out, True
                full = os.path.join(root, name)
                rel = full[cut:]
                st = os.stat(full)
                out.append(DataFile(rel, st.st_size, label_for(rel, mode, labels), st.st_mtime))
        return out, False

    def _file(self, options: dict[str, Any], file: str | None) -> tuple[Path, str]:
        """One file of the dataset, refused when it lies outside it or has another suffix."""
        if "tf_file" in options:
            by_name = {Path(options[k]).name: Path(options[k]) for k in ("tf_file", "json_file")}
            if file not in by_name:
                raise ValidationError(f"no file '{file}' in this dataset", field="file",
                                      fix="choose one of: " + ", ".join(by_name))
            return self._as_saved(str(by_name[str(file)]), "file"), str(file)
        directory = self._as_saved(options["directory"], "directory")
        if not file:
            first = next(self._walk(directory, options["file_suffix"]), None)
            if first is None:
                raise ValidationError(f"no data file left in {directory}", field="file")
            return first, first.relative_to(directory).as_posix()
        path = (directory / file).resolve()
        if not path.is_relative_to(directory) or suffix_of(path.name) not in options["file_suffix"] \
                or not path.is_file():
            raise ValidationError(f"no file '{file}' in this dataset", field="file",
                                  fix="choose a file from the dataset's file list")
        return path, path.relative_to(directory).as_posix()

    def preview(self, category: str, options: dict[str, Any], ctx: DatasetContext, rows: int,
                file: str | None = None) -> Table:
        path, rel = self._file(options, file)
        stream = _rows(path, rel)
        header = next(stream, None) or []
        got = list(islice(stream, rows + 1))
        return Table(columns=header, rows=[list(r) for r in got[:rows]], truncated=len(got) > rows)

    def open_file(self, options: dict[str, Any], ctx: DatasetContext, file: str,
                  max_bytes: int) -> tuple[bytes, bool]:
        path, _ = self._file(options, file)
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
        return data[:max_bytes], len(data) > max_bytes

    def read_range(self, options: dict[str, Any], ctx: DatasetContext, file: str, start: int,
                   length: int) -> bytes:
        path, _ = self._file(options, file)
        with open(path, "rb") as f:
            f.seek(start)
            return f.read(length)

    def location(self, options: dict[str, Any], ctx: DatasetContext) -> str:
        return str(options.get("directory") or "")

    def job_env(self, options: dict[str, Any], prefix: str, ctx: DatasetContext) -> dict[str, str]:
        if "tf_file" in options:
            return {f"{prefix}_TF_FILE": options["tf_file"], f"{prefix}_JSON_FILE": options["json_file"]}
        env = {f"{prefix}_PATH": options["directory"], f"{prefix}_SUFFIXES": ",".join(options["file_suffix"])}
        if options.get("annotation") and options["annotation"] != "none":
            env[f"{prefix}_ANNOTATION"] = options["annotation"]
        if options.get("label_file"):
            env[f"{prefix}_LABEL_FILE"] = options["label_file"]
        return env

    # --- sharing ----------------------------------------------------------------------------

    def copy_to(self, category: str, options: dict[str, Any], ctx: DatasetContext, dest: Any,
                progress: Callable[[float], None]) -> dict[str, Any]:
        dest = Path(dest)
        if "tf_file" in options:
            pairs = [(Path(options[k]), dest / Path(options[k]).name) for k in ("tf_file", "json_file")]
        else:
            src = Path(options["directory"])
            pairs = [(p, dest / p.relative_to(src)) for p in self._walk(src, options["file_suffix"])]
            if options.get("label_file"):
                label = Path(options["label_file"])
                pairs.append((label, dest / (label.relative_to(src) if label.is_relative_to(src) else label.name)))
        total = sum(p.stat().st_size for p, _ in pairs) or 1
        done = 0
        for source, target in pairs:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(source, "rb") as fin, open(target, "wb") as fout:
                # In chunks, so one big file still reports progress (and proves the copy alive).
                while chunk := fin.read(COPY_CHUNK):
                    fout.write(chunk)
                    done += len(chunk)
                    progress(done / total)
            shutil.copymode(source, target)
        out = dict(options)
        if "tf_file" in options:
            out.update({k: str(dest / Path(options[k]).name) for k in ("tf_file", "json_file")})
        else:
            out["directory"] = str(dest)
            if options.get("label_file"):
                out["label_file"] = str(pairs[-1][1])
        return out


@hookimpl
def hpcai_dataset_backends() -> list[DatasetBackend]:
    return [Files()]
