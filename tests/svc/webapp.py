"""The custom service of the tests: a small HTTP server on $PORT that lives under /api/."""

import hashlib
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def _send(self, code: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/":
            self._send(200, {"ok": True})
        elif self.path.startswith("/api/hello"):
            self._send(200, {"path": self.path, "auth": self.headers.get("Authorization"),
                             "cookie": self.headers.get("Cookie")})
        elif self.path == "/api/drop":  # answers, then closes without saying so (a kept-alive socket dies)
            self._send(200, {"dropped": True})
            self.close_connection = True
        elif self.path == "/api/cookies":  # a service trying to set the portal's cookies, or wider ones
            self.send_response(200)
            for c in ("hpcai_session=forged; Path=/", "hpcai_svc=forged; Path=/",
                      "wide=1; Domain=svc.localhost; Path=/", "own=1; Path=/"):
                self.send_header("Set-Cookie", c)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
        elif self.path == "/api/redirect":
            self._send(302, {}, {"Location": "/api/hello?from=redirect", "Set-Cookie": "sid=abc; Path=/; HttpOnly"})
        else:
            self._send(404, {"path": self.path})

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        h = hashlib.sha256()
        left = n
        while left:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
        self._send(200, {"bytes": n, "sha256": h.hexdigest()})

    def log_message(self, fmt: str, *args: object) -> None:  # quiet: 200 concurrent requests
        pass


if __name__ == "__main__":
    print(f"webapp on {os.environ['HOST']}:{os.environ['PORT']}", flush=True)
    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # the default 5 drops the SYNs of 16 clients connecting at once (1 s retries)
        daemon_threads = True

    Server((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
    sys.exit(0)
