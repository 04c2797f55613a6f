"""HDFS datasets (spec 05 §1.3, §2.2, F162-F164) through the NameNode's WebHDFS REST API.

The form keeps the product's fields: IP, RPC port (8020/9000, what jobs put in `hdfs://`
URLs), web port (9870 on Hadoop 3, 50070 on Hadoop 2: WebHDFS), user, full path (prefixed
with the site's HDFS root, [datasets] hdfs_root), suffixes and annotation. Listing is
LISTSTATUS, the connection test GETFILESTATUS, previews stream OPEN (the NameNode redirects
to a DataNode) and stop after the first rows. Errors come back as WebHDFS RemoteExceptions
and are shown in their own words.
"""

from __future__ import annotations

import codecs
import csv
import json
import posixpath
import socket
import urllib.error
import urllib.parse
import urllib.request
from itertools import islice
from typing import Any, Iterator

from core.api import DataFile, DatasetBackend, DatasetContext, Table
from core.datakinds import ANNOTATED, ANNOTATIONS, SUFFIXES, check_annotation, check_suffixes, label_for, suffix_of
from core.errors import ValidationError
from core.hookspecs import hookimpl

KINDS = ("numeric", "image", "video", "audio", "text")
MAX_LABEL_BYTES = 16 * 1024 * 1024


class WebHdfs:
    """A minimal WebHDFS v1 client (simple authentication: `user.name`)."""

    def __init__(self, host: str, port: int, user: str, timeout: float):
        self.base = f"http://{host}:{port}/webhdfs/v1"
        self.where = f"HDFS at {host}:{port}"
        self.user, self.timeout = user, timeout

    def url(self, path: str, op: str, **params: Any) -> str:
        query = {"op": op, "user.name": self.user, **{k: v for k, v in params.items() if v is not None}}
        return f"{self.base}{urllib.parse.quote(path)}?{urllib.parse.urlencode(query)}"

    def _open(self, path: str, op: str, **params: Any) -> Any:
        try:
            # urllib follows the NameNode's 307 to the DataNode for OPEN.
            return urllib.request.urlopen(self.url(path, op, **params), timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            raise self._remote(exc, path) from exc
        except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as exc:
            why = getattr(exc, "reason", exc)
            if isinstance(why, (socket.timeout, TimeoutError)) or "timed out" in str(why):
                text = f"no answer within {self.timeout:g} s"
            else:
                text = getattr(why, "strerror", None) or str(why)
            raise ValidationError(f"{self.where} cannot be reached: {text}", field="web_port",
                                  fix="check the IP and the web port (9870 on Hadoop 3, 50070 on Hadoop 2)") from exc

    def _remote(self, exc: urllib.error.HTTPError, path: str) -> ValidationError:
        try:
            body = json.loads(exc.read(65536) or b"{}")
            remote = body.get("RemoteException", {})
            text = f"{remote.get('exception', 'error')}: {remote.get('message', '')}".strip(": ")
        except (ValueError, AttributeError):
            text = f"HTTP {exc.code} {exc.reason}"
        field = "path" if exc.code == 404 or "FileNotFound" in text else \
            "user" if exc.code in (401, 403) or "AccessControl" in text or "Security" in text else "web_port"
        return ValidationError(f"{self.where} refused {path}: {text}", field=field,
                               fix="check the full path and the user's HDFS permissions")

    def json(self, path: str, op: str, **params: Any) -> dict[str, Any]:
        with self._open(path, op, **params) as resp:
            try:
                return json.loads(resp.read())
            except ValueError as exc:
                raise ValidationError(f"{self.where} answered {op} with something that is not WebHDFS JSON",
                                      field="web_port", fix="is this the NameNode's HTTP port?") from exc

    def status(self, path: str) -> dict[str, Any]:
        return self._field(self.json(path, "GETFILESTATUS"), "GETFILESTATUS", "FileStatus")

    def list(self, path: str) -> list[dict[str, Any]]:
        return self._field(self._field(self.json(path, "LISTSTATUS"), "LISTSTATUS", "FileStatuses"),
                           "LISTSTATUS", "FileStatus")

    def _field(self, answer: Any, op: str, name: str) -> Any:
        """JSON from something that is not a NameNode (another web server) is the user's error."""
        if not isinstance(answer, dict) or name not in answer:
            raise ValidationError(f"{self.where} answered {op} with JSON that is not WebHDFS's",
                                  field="web_port", fix="is this the NameNode's HTTP port?")
        return answer[name]

    def walk(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(path, status) of every file under `path`, sorted, depth first; lazily listed."""
        for st in sorted(self.list(path), key=lambda s: s["pathSuffix"]):
            child = posixpath.join(path, st["pathSuffix"])
            if st["type"] == "DIRECTORY":
                yield from self.walk(child)
            else:
                yield child, st

    def open(self, path: str, length: int | None = None) -> Any:
        return self._open(path, "OPEN", length=length)

    def open_at(self, path: str, offset: int, length: int) -> Any:
        """WebHDFS OPEN from `offset` (media range requests stream from the DataNode)."""
        return self._open(path, "OPEN", offset=offset, length=length)


class Hdfs(DatasetBackend):
    name = "hdfs"
    title = "HDFS"
    description = "Files in HDFS, read through WebHDFS"
    categories = KINDS
    connection_based = True

    def option_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "host": {"type": "string", "title": "IP", "minLength": 1, "x-order": 10,
                         "x-fix": "give the NameNode's IP or host name"},
                "port": {"type": "integer", "title": "Port (RPC)", "minimum": 1, "maximum": 65535,
                         "default": 8020, "x-order": 20,
                         "description": "fs.defaultFS port in core-site.xml, usually 8020 or 9000"},
                "web_port": {"type": "integer", "title": "Web port", "minimum": 1, "maximum": 65535,
                             "default": 9870, "x-order": 30,
                             "description": "NameNode HTTP port: 9870 on Hadoop 3, 50070 on Hadoop 2"},
                "user": {"type": "string", "title": "User name", "minLength": 1, "x-order": 40},
                "path": {"type": "string", "title": "Full path", "minLength": 1, "pattern": "^/", "x-order": 50,
                         "x-fix": "give an absolute path such as /data/iris; the site's HDFS root is put in front"},
                "file_suffix": {"type": "array", "title": "File suffix", "x-widget": "checkboxes",
                                "items": {"type": "string"}, "minItems": 1, "x-order": 60,
                                "x-suffixes": {k: list(SUFFIXES[k]) for k in KINDS}},
                "annotation": {"type": "string", "title": "Annotation mode", "enum": list(ANNOTATIONS),
                               "x-enum-labels": ANNOTATIONS, "default": "none", "x-order": 70,
                               "x-visible-if": {"category": list(ANNOTATED)}},
                "label_file": {"type": "string", "title": "Label file (JSON, HDFS path)", "x-order": 80,
                               "x-visible-if": {"annotation": "file"}},
            },
            "required": ["host", "port", "web_port", "user", "path"],
        }

    def normalise(self, category: str, options: dict[str, Any], ctx: DatasetContext) -> dict[str, Any]:
        if ctx.classification_enabled:
            raise ValidationError("HDFS datasets cannot be used while security classification is on",
                                  field="backend", fix="ask the administrator, or use a data-file dataset")
        out = {k: options.get(k) for k in ("host", "port", "web_port", "user")}
        out["host"] = str(out["host"]).strip()
        path = posixpath.normpath(str(options.get("path") or "/"))
        if not path.startswith("/") or ".." in path.split("/"):
            raise ValidationError("must be an absolute path without '..'", field="path")
        out["path"] = path
        out["file_suffix"] = check_suffixes(category, options.get("file_suffix") or SUFFIXES[category])
        mode = check_annotation(category, options)  # refuses annotation of numeric data
        if category in ANNOTATED:
            out["annotation"] = mode
            if out["annotation"] == "file":
                out["label_file"] = posixpath.normpath(str(options["label_file"]))
        return out

    # --- helpers ------------------------------------------------------------------------------

    def client(self, options: dict[str, Any], ctx: DatasetContext) -> WebHdfs:
        return WebHdfs(options["host"], int(options["web_port"]), options["user"],
                       float(ctx.setting("connect_timeout_s", 10)))

    def full_path(self, options: dict[str, Any], ctx: DatasetContext) -> str:
        """F164: the site's HDFS root mount point in front of the user's path."""
        root = str(ctx.setting("hdfs_root", "/")) or "/"
        return posixpath.normpath(posixpath.join(root, options["path"].lstrip("/")))

    def _labels(self, client: WebHdfs, options: dict[str, Any], ctx: DatasetContext) -> dict[str, Any] | None:
        if options.get("annotation") != "file":
            return None
        label = posixpath.join(self.full_path(options, ctx), options["label_file"]) \
            if not options["label_file"].startswith("/") else self.full_path({"path": options["label_file"]}, ctx)
        with client.open(label, length=MAX_LABEL_BYTES) as resp:
            try:
                data = json.loads(resp.read(MAX_LABEL_BYTES))
            except ValueError as exc:
                raise ValidationError(f"{label} is not valid JSON", field="label_file") from exc
        return data if isinstance(data, dict) else None

    # --- the backend --------------------------------------------------------------------------

    def test_connection(self, options: dict[str, Any], ctx: DatasetContext) -> str:
        client = self.client(options, ctx)
        path = self.full_path(options, ctx)
        st = client.status(path)
        if st.get("type") != "DIRECTORY":
            raise ValidationError(f"{path} is a file, not a directory", field="path",
                                  fix="give the directory holding the data files")
        return f"connected to {client.where}: {path} is a directory owned by {st.get('owner', '?')}"

    def list_files(self, category: str, options: dict[str, Any], ctx: DatasetContext,
                   limit: int) -> tuple[list[DataFile], bool]:
        client = self.client(options, ctx)
        root = self.full_path(options, ctx)
        mode = options.get("annotation") or "none"
        labels = self._labels(client, options, ctx)
        out: list[DataFile] = []
        for path, st in client.walk(root):
            if suffix_of(path) not in options["file_suffix"]:
                continue
            if len(out) == limit:
                return out, True
            rel = posixpath.relpath(path, root)
            mtime = st.get("modificationTime")
            out.append(DataFile(rel, int(st.get("length", 0)), label_for(rel, mode, labels),
                                mtime / 1000 if isinstance(mtime, (int, float)) else None))
        return out, False

    def _file(self, category: str, options: dict[str, Any], ctx: DatasetContext, file: str | None) -> tuple[str, str]:
        root = self.full_path(options, ctx)
        if not file:
            files, _ = self.list_files(category, options, ctx, 1)
            if not files:
                raise ValidationError(f"no file in {root} ends with " + ", ".join(options["file_suffix"]),
                                      field="path", fix="check the full path and the suffixes")
            file = files[0].path
        path = posixpath.normpath(posixpath.join(root, file))
        if not (path + "/").startswith(root.rstrip("/") + "/") or suffix_of(path) not in options["file_suffix"]:
            raise ValidationError(f"no file '{file}' in this dataset", field="file")
        return path, posixpath.relpath(path, root)

    def preview(self, category: str, options: dict[str, Any], ctx: DatasetContext, rows: int,
                file: str | None = None) -> Table:
        path, rel = self._file(category, options, ctx, file)
        with self.client(options, ctx).open(path) as resp:
            text = codecs.getreader("utf-8-sig")(resp, errors="replace")
            reader = csv.reader(text, delimiter="\t" if suffix_of(path) == "tsv" else ",")
            try:
                header = next(reader, [])
                got = list(islice(reader, rows + 1))  # then the stream is closed: the rest is never read
            except csv.Error as exc:
                raise ValidationError(f"{rel}, line {reader.line_num}: malformed CSV ({exc})", field="file") from exc
        return Table(columns=header, rows=got[:rows], truncated=len(got) > rows)

    def open_file(self, options: dict[str, Any], ctx: DatasetContext, file: str,
                  max_bytes: int) -> tuple[bytes, bool]:
        category = "numeric" if suffix_of(file) in SUFFIXES["numeric"] else "text"
        path, _ = self._file(category, options, ctx, file)
        with self.client(options, ctx).open(path, length=max_bytes + 1) as resp:
            data = resp.read(max_bytes + 1)
        return data[:max_bytes], len(data) > max_bytes

    def read_range(self, options: dict[str, Any], ctx: DatasetContext, file: str, start: int,
                   length: int) -> bytes:
        category = "numeric" if suffix_of(file) in SUFFIXES["numeric"] else "text"
        path, _ = self._file(category, options, ctx, file)
        with self.client(options, ctx).open_at(path, start, length) as resp:
            return resp.read(length)

    def location(self, options: dict[str, Any], ctx: DatasetContext) -> str:
        return f"hdfs://{options['host']}:{options['port']}{self.full_path(options, ctx)}"

    def job_env(self, options: dict[str, Any], prefix: str, ctx: DatasetContext) -> dict[str, str]:
        path = self.full_path(options, ctx)
        env = {f"{prefix}_HDFS_URL": f"hdfs://{options['host']}:{options['port']}{path}",
               f"{prefix}_WEBHDFS_URL": f"http://{options['host']}:{options['web_port']}/webhdfs/v1{path}",
               f"{prefix}_USER": str(options["user"]), f"{prefix}_SUFFIXES": ",".join(options["file_suffix"])}
        if options.get("annotation") and options["annotation"] != "none":
            env[f"{prefix}_ANNOTATION"] = options["annotation"]
        return env


@hookimpl
def hpcai_dataset_backends() -> list[DatasetBackend]:
    return [Hdfs()]
