"""Replays recorded WebHDFS exchanges (fixtures/webhdfs, see its README for the source) over
real HTTP, standing in for a NameNode and its DataNode, which cannot run on this machine."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "webhdfs"
PREFIX = "/webhdfs/v1"


class Replay:
    def __init__(self) -> None:
        self.exchanges = json.loads((FIXTURES / "exchanges.json").read_text())
        self.requests: list[tuple[str, dict[str, str]]] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                path = urllib.parse.unquote(url.path)
                replay.requests.append((path, query))
                status, headers, body = replay.answer(path, query)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v.replace("<DATANODE>:<PORT>", f"127.0.0.1:{replay.port}"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if not path.startswith(PREFIX):
            return 404, {}, b"not WebHDFS"
        hdfs_path = path[len(PREFIX):] or "/"
        datanode = "namenoderpcaddress" in query
        for e in self.exchanges:
            if e["path"] in (hdfs_path, "*") and e["op"] in (query.get("op"), "*") \
                    and bool(e.get("datanode")) == datanode or e["path"] == "*":
                body = (FIXTURES / e["body"]).read_bytes() if e["body"] else b""
                headers = {k: v for k, v in e["headers"].items() if k != "Content-Length"}
                if query.get("op") == "OPEN":
                    return e["status"], *self._range(headers, body, query)
                return e["status"], headers, body
        return 500, {}, b""

    @staticmethod
    def _range(headers: dict[str, str], body: bytes, query: dict[str, str]) -> tuple[dict[str, str], bytes]:
        """OPEN's offset/length as the real servers treat them: the NameNode carries both into
        its redirect, the DataNode sends that slice (labeling streams media by range)."""
        offset, length = int(query.get("offset") or 0), query.get("length")
        if "Location" in headers:
            loc = headers["Location"].replace("offset=0", f"offset={offset}")
            headers = {**headers, "Location": loc + (f"&length={length}" if length else "")}
            return headers, body
        return headers, body[offset: offset + int(length)] if length else body[offset:]

    def __enter__(self) -> "Replay":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
