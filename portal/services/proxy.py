"""The authenticating proxy /dockerService/<alias>/: access check per request, then bytes.

Every rule (who may use a service, where it listens, which hosts may be reached, API keys)
lives in core.services; this module only moves bytes.
"""

from __future__ import annotations

import hmac
import http.client
import os
import re
import select
import selectors
import socket
import threading
import time
from typing import Any, Iterator
from urllib.parse import urlsplit

from portal.services.blueprints import bp
from flask import (
    Response,
    current_app,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)

from core import svcauth
from core.errors import NotFound, PermissionDenied
from portal.front import FRONT_HEADER, FRONT_SECRET_ENV
from portal.services import origin
from core.services import PROXY_PREFIX, ProxyEntry
from portal.web import platform
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length", "expect"}
CHUNK = 64 * 1024
UPSTREAM_TIMEOUT_S = 300
WS_HANDSHAKE_TIMEOUT_S = 30
# the portal's cookies (its session, the service origins' own): never sent on to a service
PORTAL_COOKIES = ("hpcai_session", origin.COOKIE)
PORTAL_COOKIE = re.compile(r"(?:^|;\s*)(?:%s)=[^;]*" % "|".join(PORTAL_COOKIES))
OURS = {"authorization", svcauth.HEADER.lower()}  # the visitor's credentials; our proof is added
_signer = svcauth.Signer()


# --- the proxy ----------------------------------------------------------------------------------

def _bearer() -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None


def _deny(status: int, message: str, fix: str, field: str = "Authorization") -> Response:
    resp = jsonify({"error": message, "field": field, "fix": fix})
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="hpcai services"'
    return resp


def _is_websocket() -> bool:
    connection = {t.strip().lower() for t in request.headers.get("Connection", "").split(",")}
    return request.method == "GET" and "upgrade" in connection \
        and request.headers.get("Upgrade", "").lower() == "websocket"


@bp.route(PROXY_PREFIX + "/<alias>", methods=["GET", "HEAD"])
def proxy_bare(alias: str) -> Any:
    return redirect(f"{PROXY_PREFIX}/{alias}/", code=308)


@bp.route(PROXY_PREFIX + "/<alias>/", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def proxy_root(alias: str) -> Any:
    return proxy(alias, "")


@bp.route(PROXY_PREFIX + "/<alias>/<path:rest>",
          methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def proxy(alias: str, rest: str) -> Any:
    mgr = platform().services
    bearer = _bearer()
    websocket = _is_websocket()
    here = origin.service_alias()  # arrived on a service origin: the proxy of that service only
    if here is not None and here != alias:
        return _deny(404, f"no service '{alias}' here", "open it at its own address", "service")
    who = origin.cookie_user(alias) if here is not None else session.get("user")
    try:  # auth.py leaves proxied requests alone: the session name is checked here, with the rest
        access = mgr.proxy_access(alias, who, bearer)
    except NotFound:
        return _deny(404, f"no service '{alias}'", "check the address on the service's page", "service")
    entry = access.entry
    full = request.path + ("?" + request.query_string.decode("latin-1") if request.query_string else "")
    if not access.granted:
        if bearer or entry.auth:
            return _deny(401, "a valid API key is required", "send 'Authorization: Bearer <API key>' "
                         "(create one under My services > API keys)")
        if access.user is None:
            if websocket:  # a handshake cannot follow a redirect to a login page
                return _deny(401, "log in to the portal first", "open the service from the portal")
            if here is not None:  # no (valid) cookie of this origin: the portal checks and hands off
                back = origin.portal_url(full)
                if back.startswith("/"):  # a site origin template without [services] portal_url
                    return _deny(401, "open the service from the portal", "set [services] portal_url "
                                 "(the portal's address) so visitors are sent there", "service")
                return redirect(back)
            return redirect(url_for("auth.login", next=request.full_path))
        return _deny(403, f"service {alias} is not shared with you", "ask its owner to authorise you")
    if entry.error is not None:  # not running (503) or an address outside the cluster (403)
        resp = jsonify(entry.error.as_dict())
        resp.status_code = 403 if isinstance(entry.error, PermissionDenied) else 503
        return resp
    if here is None and not access.via_key and origin.origins().template is not None:
        # A browser on the portal's origin: the service's pages must not run there.
        if websocket:
            return _deny(403, "WebSockets of a service are served on its own origin",
                         "open the service from the portal (its pages connect from there)", "Upgrade")
        return origin.handoff(alias, str(access.user), full)
    rules = entry.rules
    prefix = f"{PROXY_PREFIX}/{alias}"
    path = "/" + rest
    upstream_path = (rules.upstream_prefix + path) if rules.strip_prefix else prefix + path
    if request.query_string:
        upstream_path += "?" + request.query_string.decode("latin-1")
    headers = _upstream_headers(entry, rules.request_headers)
    if websocket:
        return _websocket(entry, upstream_path, headers, prefix)
    return _forward(entry, upstream_path, headers, prefix, sandbox=here is None and access.via_key)


@bp.route("/_hpcai/authz")
def proxy_authz() -> Any:
    """nginx's auth_request (portal/front.py): 200 lets nginx serve the request itself, 401
    sends it to the embedded proxy above, which gives the full answer (login, hand-off, 403,
    503). Only nginx knows the front secret; to anyone else this does not exist."""
    secret = os.environ.get(FRONT_SECRET_ENV, "")
    if not secret or not hmac.compare_digest(request.headers.get(FRONT_HEADER, ""), secret):
        return _deny(404, "not found", "", "path")
    alias = request.headers.get("X-Hpcai-Alias", "")
    here = origin.service_alias()
    if not alias or (here is not None and here != alias):
        return "", 401
    who = origin.cookie_user(alias) if here is not None else session.get("user")
    try:
        access = platform().services.proxy_access(alias, who, _bearer())
    except NotFound:
        return "", 401
    entry = access.entry
    fast = access.granted and entry.error is None and \
        request.headers.get("X-Hpcai-Target") == f"{entry.host}:{entry.port}" and \
        (here is not None or access.via_key or origin.origins().template is None)
    return "", (200 if fast else 401)


# Werkzeug routes a WebSocket handshake only to rules marked websocket=True: the same views.
bp.add_url_rule(PROXY_PREFIX + "/<alias>/", endpoint="proxy_root", view_func=proxy_root, websocket=True)
bp.add_url_rule(PROXY_PREFIX + "/<alias>/<path:rest>", endpoint="proxy", view_func=proxy, websocket=True)


class UpstreamPool:
    """Idle keep-alive connections to services, reused by later requests (per host and port).

    A connection the service has closed meanwhile reads as readable-at-EOF and is dropped
    before use; one that fails anyway before an answer is retried once, fresh, when nothing
    of the request body was consumed.
    """

    def __init__(self, per_target: int = 64, idle_s: float = 30.0):
        self.per_target, self.idle_s = per_target, idle_s
        self._idle: dict[tuple[str, int], list[tuple[float, http.client.HTTPConnection]]] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def get(self, host: str, port: int) -> tuple[http.client.HTTPConnection, bool]:
        now = time.monotonic()
        while True:
            with self._lock:
                idle = self._idle.get((host, port))
                if not idle:
                    break
                since, conn = idle.pop()
            if now - since < self.idle_s and conn.sock is not None and not _readable(conn.sock):
                return conn, True
            conn.close()
        return http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT_S), False

    def put(self, host: str, port: int, conn: http.client.HTTPConnection) -> None:
        now = time.monotonic()
        expired: list[http.client.HTTPConnection] = []
        with self._lock:
            if now - self._swept > self.idle_s:  # services restart on new ports: drop old targets' idle ones
                self._swept = now
                for key in list(self._idle):
                    keep = [(t, c) for t, c in self._idle[key] if now - t < self.idle_s]
                    expired += [c for t, c in self._idle[key] if now - t >= self.idle_s]
                    if keep:
                        self._idle[key] = keep
                    else:
                        del self._idle[key]
            idle = self._idle.setdefault((host, port), [])
            if len(idle) < self.per_target:
                idle.append((now, conn))
                conn = None  # type: ignore[assignment]
        for c in expired + ([conn] if conn is not None else []):
            c.close()


def _readable(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _pool() -> UpstreamPool:
    ext = current_app.extensions
    if "hpcai_upstream_pool" not in ext:
        ext.setdefault("hpcai_upstream_pool", UpstreamPool())
    return ext["hpcai_upstream_pool"]


STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def _send(conn: http.client.HTTPConnection, entry: ProxyEntry, upstream_path: str,
          headers: list[tuple[str, str]]) -> http.client.HTTPResponse:
    conn.putrequest(request.method, upstream_path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", f"{entry.host}:{entry.port}")
    for k, v in headers:
        conn.putheader(k, v)
    length = request.content_length
    chunked = length is None and request.method in ("POST", "PUT", "PATCH")
    if length is not None:
        conn.putheader("Content-Length", str(length))
    elif chunked:
        conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    stream = request.stream
    while True:  # large bodies go through in chunks, never whole in memory
        data = stream.read(CHUNK)
        if not data:
            break
        conn.send(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
    if chunked:
        conn.send(b"0\r\n\r\n")
    return conn.getresponse()


def _forward(entry: ProxyEntry, upstream_path: str, headers: list[tuple[str, str]], prefix: str,
             sandbox: bool) -> Any:
    pool, rules = _pool(), entry.rules
    conn, reused = pool.get(entry.host, entry.port)
    try:
        try:
            upstream = _send(conn, entry, upstream_path, headers)
        except STALE:
            if not reused or request.content_length or request.method in ("POST", "PUT", "PATCH"):
                raise
            conn.close()  # the service closed an idle connection as we reused it: once more, fresh
            conn = http.client.HTTPConnection(entry.host, entry.port, timeout=UPSTREAM_TIMEOUT_S)
            upstream = _send(conn, entry, upstream_path, headers)
    except OSError as exc:
        conn.close()
        if isinstance(exc, ConnectionRefusedError):
            platform().services.forget_proxy_entry(entry.alias)
        return _deny(502, f"service {entry.alias} did not answer: {exc}", "see the service's log", "service")
    out = []
    for k, v in upstream.getheaders():
        lk = k.lower()
        if lk in HOP_BY_HOP and lk != "content-length":
            continue
        if lk == "location" and rules.rewrite_redirects:
            v = _rewrite_location(v, entry.host, entry.port, prefix, rules.strip_prefix, rules.upstream_prefix)
        elif lk == "set-cookie":
            v = _service_cookie(v, prefix, rules.rewrite_cookie_path)
            if v is None:
                continue
        elif lk == "content-security-policy" and sandbox:
            continue
        out.append((k, v))
    if sandbox:  # an API-key answer on the portal's origin: no script of the service may run as the portal
        out.append(("Content-Security-Policy", "sandbox"))

    head = request.method == "HEAD"

    def body() -> Iterator[bytes]:
        done = False
        try:
            while not head:
                data = upstream.read1(CHUNK)
                if not data:
                    break
                yield data
            upstream.close()
            done = True
        finally:  # a fully read answer leaves the connection reusable; anything else ends it
            if done and not upstream.will_close:
                pool.put(entry.host, entry.port, conn)
            else:
                conn.close()

    resp = Response(body(), status=upstream.status, headers=out, direct_passthrough=True)
    if not any(k.lower() == "content-type" for k, _ in out):
        del resp.headers["Content-Type"]  # no type of ours on a body that has none
    return resp


# --- WebSocket tunnel -------------------------------------------------------------------------------

class _Hijacked(Response):
    """The client's socket was taken over: tell gunicorn to write nothing and close it."""

    def __call__(self, environ: Any, start_response: Any) -> Any:
        raise StopIteration("WebSocket tunnel closed")


def _websocket(entry: ProxyEntry, upstream_path: str, headers: list[tuple[str, str]], prefix: str) -> Any:
    """Replay the handshake to the service; on 101, pass bytes both ways until either side closes."""
    client = request.environ.get("gunicorn.socket")
    if client is None:
        return _deny(501, "WebSocket needs the portal's own server", "run the portal with 'hpcai serve'",
                     "Upgrade")
    lines = [f"GET {upstream_path} HTTP/1.1", f"Host: {entry.host}:{entry.port}", "Connection: Upgrade",
             "Upgrade: websocket"] + [f"{k}: {v}" for k, v in headers]  # Sec-WebSocket-* included
    try:
        upstream = socket.create_connection((entry.host, entry.port), timeout=WS_HANDSHAKE_TIMEOUT_S)
        upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = upstream.recv(CHUNK)
            if not data or len(buf) > CHUNK:
                raise ConnectionResetError("no complete answer to the WebSocket handshake")
            buf += data
    except OSError as exc:
        if isinstance(exc, ConnectionRefusedError):
            platform().services.forget_proxy_entry(entry.alias)
        return _deny(502, f"service {entry.alias} did not answer: {exc}", "see the service's log", "service")
    head, rest = buf.split(b"\r\n\r\n", 1)
    status_line, *raw = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 502
    out = []
    for line in raw:
        k, _, v = line.partition(":")
        k, v = k.strip(), v.strip()
        if k.lower() == "set-cookie":
            v = _service_cookie(v, prefix, entry.rules.rewrite_cookie_path)
            if v is None:
                continue
        out.append((k, v))
    if status != 101:  # a refusal: pass it on as an ordinary answer and end
        upstream.close()
        body = rest if any(k.lower() == "content-length" for k, _ in out) else b""
        kept = [(k, v) for k, v in out if k.lower() not in HOP_BY_HOP]
        return Response(body, status=status, headers=kept)
    reply = "HTTP/1.1 101 Switching Protocols\r\n" + "".join(f"{k}: {v}\r\n" for k, v in out) + "\r\n"
    try:
        client.sendall(reply.encode("latin-1") + rest)
        _pump(client, upstream)
    except OSError:
        pass
    finally:
        upstream.close()
        try:
            client.shutdown(socket.SHUT_RDWR)  # the other side closed (or failed): close this one too
        except OSError:
            pass
    return _Hijacked()


def _pump(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until one side closes; the caller then closes the other."""
    for s in (a, b):
        s.settimeout(None)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)  # a peer that vanished is noticed
    with selectors.DefaultSelector() as sel:
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        while True:
            for key, _ in sel.select():
                data = key.fileobj.recv(CHUNK)  # type: ignore[union-attr]
                if not data:
                    return
                key.data.sendall(data)


def _upstream_headers(entry: ProxyEntry, extra: dict[str, str]) -> list[tuple[str, str]]:
    out = []
    for k, v in request.headers.items():
        lk = k.lower()
        if lk in HOP_BY_HOP or lk in OURS or lk.startswith("x-forwarded-"):
            continue  # the visitor's Authorization (session or API key) is the portal's, never the service's
        if lk == "cookie":
            v = PORTAL_COOKIE.sub("", v).lstrip("; ")  # the portal's cookies never leave the portal
            if not v:
                continue
        out.append((k, v))
    if entry.secret:  # the proof only the proxy can give (svcrun's gate, or the server's own auth)
        out.append((svcauth.HEADER, _signer.header(entry.secret)))
        for k, v in entry.rules.secret_headers.items():
            v = v.replace("{secret}", entry.secret)
            if k.lower() == "cookie":  # one Cookie header: the proxy's cookies replace the visitor's of those names
                out = _with_cookies(out, v)
            else:
                out.append((k, v))
    present = {k.lower() for k, _ in out}
    out += [(k, v) for k, v in extra.items() if k.lower() not in present]
    out += [("X-Forwarded-For", request.remote_addr or ""), ("X-Forwarded-Host", request.host),
            ("X-Forwarded-Proto", request.scheme),
            ("X-Forwarded-Prefix", f"{PROXY_PREFIX}/{request.view_args.get('alias', '')}")]
    return out


def _with_cookies(headers: list[tuple[str, str]], cookies: str) -> list[tuple[str, str]]:
    """`headers` with `cookies` ("a=1; b=2") in its Cookie header, in place of any the visitor
    sent under those names (code-server's session cookie is the proxy's, never the browser's)."""
    names = {c.split("=", 1)[0].strip() for c in cookies.split(";")}
    kept = [c.strip() for k, v in headers if k.lower() == "cookie" for c in v.split(";")
            if c.strip() and c.split("=", 1)[0].strip() not in names]
    return [(k, v) for k, v in headers if k.lower() != "cookie"] + [("Cookie", "; ".join([*kept, cookies]))]


def _rewrite_location(value: str, host: str, port: int, prefix: str, strip: bool, upstream_prefix: str) -> str:
    """Redirects the service sends to itself come back under the proxy prefix."""
    parts = urlsplit(value)
    if parts.netloc and parts.netloc not in (f"{host}:{port}", f"127.0.0.1:{port}", f"localhost:{port}"):
        return value  # elsewhere entirely: leave it
    path = parts.path or "/"
    if not path.startswith("/"):
        return value  # relative: the browser resolves it under the prefix already
    if path.startswith(prefix + "/") or path == prefix:
        new = path
    elif strip:
        if upstream_prefix and path.startswith(upstream_prefix):
            path = path[len(upstream_prefix):] or "/"
        new = prefix + path
    else:
        new = path
    return new + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def _service_cookie(value: str, prefix: str, rewrite_path: bool) -> str | None:
    """A service's Set-Cookie as the browser may get it: never one of the portal's cookies,
    never for a wider domain than the origin it came from (no tossing onto other origins)."""
    name = value.split("=", 1)[0].strip()
    if name in PORTAL_COOKIES or name.lower().startswith(("__host-", "__secure-")) and name[9:] in PORTAL_COOKIES:
        return None
    value = re.sub(r";\s*domain=[^;]*", "", value, flags=re.I)
    return _rewrite_cookie(value, prefix) if rewrite_path else value


def _rewrite_cookie(value: str, prefix: str) -> str:
    """A cookie the service scopes to its own root is scoped to its proxy prefix instead."""
    if re.search(r";\s*path=", value, re.I):
        return re.sub(r"(;\s*path=)([^;]*)",
                      lambda m: m.group(1) + (prefix + m.group(2) if not m.group(2).startswith(prefix) else m.group(2)),
                      value, flags=re.I)
    return value + f"; Path={prefix}/"


# --- REST API -----------------------------------------------------------------------------------
