"""My services: pages, /api/v1/services, and the authenticating proxy /dockerService/<alias>/.

Every rule (who may use a service, where it listens, which hosts may be reached, API keys)
lives in core.services; this module only moves bytes and renders.
"""

from __future__ import annotations

import http.client
import re
import select
import selectors
import socket
import threading
import time
from typing import Any, Iterator
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)

from core.errors import HpcaiError, NotFound, PermissionDenied, ValidationError
from core.services import CONFIRM, IMMUTABLE, LIFECYCLE, OPERATIONS, PROXY_PREFIX, ProxyEntry
from portal import forms
from portal.web import json_body, json_errors, platform, poke_watcher, user

bp = Blueprint("services", __name__)
api = Blueprint("services_api", __name__, url_prefix="/api/v1")

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length", "expect"}
CHUNK = 64 * 1024
UPSTREAM_TIMEOUT_S = 300
WS_HANDSHAKE_TIMEOUT_S = 30
SESSION_COOKIE = re.compile(r"(?:^|;\s*)hpcai_session=[^;]*")


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
    try:  # auth.py leaves proxied requests alone: the session name is checked here, with the rest
        access = mgr.proxy_access(alias, session.get("user"), bearer)
    except NotFound:
        return _deny(404, f"no service '{alias}'", "check the address on the service's page", "service")
    entry = access.entry
    if not access.granted:
        if bearer or entry.auth:
            return _deny(401, "a valid API key is required", "send 'Authorization: Bearer <API key>' "
                         "(create one under My services > API keys)")
        if access.user is None:
            if websocket:  # a handshake cannot follow a redirect to a login page
                return _deny(401, "log in to the portal first", "open the service from the portal")
            return redirect(url_for("auth.login", next=request.full_path))
        return _deny(403, f"service {alias} is not shared with you", "ask its owner to authorise you")
    if entry.error is not None:  # not running (503) or an address outside the cluster (403)
        resp = jsonify(entry.error.as_dict())
        resp.status_code = 403 if isinstance(entry.error, PermissionDenied) else 503
        return resp
    rules = entry.rules
    prefix = f"{PROXY_PREFIX}/{alias}"
    path = "/" + rest
    upstream_path = (rules.upstream_prefix + path) if rules.strip_prefix else prefix + path
    if request.query_string:
        upstream_path += "?" + request.query_string.decode("latin-1")
    headers = _upstream_headers(rules.request_headers, strip_auth=access.via_key)
    if websocket:
        return _websocket(entry, upstream_path, headers, prefix)
    return _forward(entry, upstream_path, headers, prefix)


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


def _forward(entry: ProxyEntry, upstream_path: str, headers: list[tuple[str, str]], prefix: str) -> Any:
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
        elif lk == "set-cookie" and rules.rewrite_cookie_path:
            v = _rewrite_cookie(v, prefix)
        out.append((k, v))

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
        if k.lower() == "set-cookie" and entry.rules.rewrite_cookie_path:
            v = _rewrite_cookie(v, prefix)
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


def _upstream_headers(extra: dict[str, str], strip_auth: bool) -> list[tuple[str, str]]:
    out = []
    for k, v in request.headers.items():
        lk = k.lower()
        if lk in HOP_BY_HOP or lk.startswith("x-forwarded-"):
            continue
        if lk == "authorization" and strip_auth:
            continue  # the API key is ours, not the service's
        if lk == "cookie":
            v = SESSION_COOKIE.sub("", v).lstrip("; ")  # the portal session never leaves the portal
            if not v:
                continue
        out.append((k, v))
    present = {k.lower() for k, _ in out}
    out += [(k, v) for k, v in extra.items() if k.lower() not in present]
    out += [("X-Forwarded-For", request.remote_addr or ""), ("X-Forwarded-Host", request.host),
            ("X-Forwarded-Proto", request.scheme),
            ("X-Forwarded-Prefix", f"{PROXY_PREFIX}/{request.view_args.get('alias', '')}")]
    return out


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


def _rewrite_cookie(value: str, prefix: str) -> str:
    """A cookie the service scopes to its own root is scoped to its proxy prefix instead."""
    if re.search(r";\s*path=", value, re.I):
        return re.sub(r"(;\s*path=)([^;]*)",
                      lambda m: m.group(1) + (prefix + m.group(2) if not m.group(2).startswith(prefix) else m.group(2)),
                      value, flags=re.I)
    return value + f"; Path={prefix}/"


# --- REST API -----------------------------------------------------------------------------------

json_errors(api)


def _external() -> str:
    return request.host_url.rstrip("/")


@api.route("/service-types")
def api_types() -> Any:
    mgr = platform().services
    return jsonify([{"name": n, "title": t.title, "category": t.category, "api_keys": t.api_keys,
                     "schema": mgr.form_schema(n, user())} for n, t in mgr.types().items()])


@api.route("/services")
def api_list() -> Any:
    mgr = platform().services
    everyone = request.args.get("all") in ("1", "true")
    rows = mgr.list(user(), everyone, search=request.args.get("q", ""))
    return jsonify([mgr.view(r, _external()).as_dict() for r in rows])


@api.route("/services", methods=["POST"])
def api_create() -> Any:
    data = json_body()
    start = data.pop("start", True) is not False
    row = platform().services.create(data, user(), start=start)
    poke_watcher()
    return jsonify(platform().services.view(row, _external()).as_dict()), 201


@api.route("/services/<ref>")
def api_get(ref: str) -> Any:
    mgr = platform().services
    return jsonify(mgr.view(mgr.get(ref, user()), _external()).as_dict())


@api.route("/services/<ref>", methods=["PATCH"])
def api_modify(ref: str) -> Any:
    mgr = platform().services
    row = mgr.modify(ref, json_body(), user())
    poke_watcher()
    return jsonify(mgr.view(row, _external()).as_dict())


@api.route("/services/<ref>", methods=["DELETE"])
def api_delete(ref: str) -> Any:
    platform().services.delete(ref, user())
    poke_watcher()
    return "", 204


@api.route("/services/<ref>/<action>", methods=["POST"])
def api_action(ref: str, action: str) -> Any:
    mgr = platform().services
    if action == "authorize":
        users = json_body().get("users", [])
        if not isinstance(users, list):
            raise ValidationError("must be a list of user names", field="users")
        row = mgr.authorize(ref, [str(u) for u in users], user())
    elif action in ("start", "stop", "restart"):
        row = getattr(mgr, action)(ref, user())
    else:
        raise NotFound(f"no action '{action}'", field="action", fix="start, stop, restart or authorize")
    poke_watcher()
    return jsonify(mgr.view(row, _external()).as_dict())


@api.route("/services/<ref>/log")
def api_log(ref: str) -> Any:
    return _log_download(ref)


@api.route("/services/<ref>/usage")
def api_usage(ref: str) -> Any:
    """Resource monitoring: CPU, memory and GPUs of the running service, with the recent samples."""
    mgr = platform().services
    row = mgr.get(ref, user())
    job = mgr.job(row)
    state = mgr.state(row, job)
    live = state in ("starting", "running")
    return jsonify({"alias": row.alias, "state": state, "usage": mgr.usage(job) if live else {}})


def _log_download(ref: str) -> Any:
    mgr = platform().services
    row = mgr.get(ref, user())
    job = mgr.job(row)
    path = mgr.log_path(job) if job is not None else None
    if path is None:
        raise NotFound(f"service {row.alias} has no log yet", field="service", fix="start it first")
    return send_file(path, mimetype="text/plain", as_attachment=True,
                     download_name=f"output.{job.scheduler_job_id}.txt")


@api.route("/service-keys")
def api_keys() -> Any:
    return jsonify([{"id": k.id, "name": k.name, "prefix": k.prefix, "created_at": k.created_at.isoformat()}
                    for k in platform().services.keys(user())])


@api.route("/service-keys", methods=["POST"])
def api_key_create() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        data = {}  # the body is optional
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object", field="body", fix='send {"name": "..."} or nothing')
    key_id, key = platform().services.create_key(user(), str(data.get("name") or ""))
    return jsonify({"id": key_id, "key": key, "note": "shown only now: copy it"}), 201


@api.route("/service-keys/<int:key_id>", methods=["DELETE"])
def api_key_delete(key_id: int) -> Any:
    platform().services.delete_key(user(), key_id)
    return "", 204


# --- pages ----------------------------------------------------------------------------------------

@bp.route("/services")
def page_list() -> Any:
    mgr = platform().services
    q, all_users = request.args.get("q", ""), request.args.get("all") == "1"
    rows = mgr.list(user(), all_users, search=q)
    views = [mgr.view(r, _external()) for r in rows]
    ops = {v.alias: mgr.user_operations(r, user(), v.state) for r, v in zip(rows, views)}
    return render_template("services.html", services=views, types=mgr.types(), q=q, all_users=all_users,
                           ops=ops, operations=OPERATIONS, confirm=CONFIRM)


def _fields(type_name: str, values: dict[str, Any], errors: dict[str, str]) -> list[Any]:
    """The create form's fields of a service type, filled with `values`."""
    p = platform()
    schema = p.services.form_schema(type_name, user())
    specs = p.specs.visible(user(), p.jobs.groups_of(user()))
    return forms.widgets(schema, {**values, "type": type_name}, errors, specs, p.images.images, "")


def _service_or_404(ref: str) -> Any:
    try:
        return platform().services.get(ref, user())
    except NotFound:
        abort(404)


def _render_form(type_name: str, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Any:
    fields = _fields(type_name, values, errors)
    return render_template("service_new.html", fields=fields, type_name=type_name, errors=errors,
                           types=platform().services.types()), status


@bp.route("/services/new")
def page_new() -> Any:
    types = platform().services.types()
    type_name = request.args.get("type") if request.args.get("type") in types else next(iter(sorted(types)), "")
    return _render_form(type_name, {}, {})


@bp.route("/services/new", methods=["POST"])
def page_create() -> Any:
    p = platform()
    type_name = request.form.get("type", "")
    try:
        schema = p.services.form_schema(type_name, user())
        values = forms.parse_form(schema, request.form)
        values["type"] = type_name
        row = p.services.create(values, user(), start=request.form.get("action") != "save")
    except HpcaiError as exc:
        return _render_form(type_name, request.form.to_dict(), forms.error_map(exc), 400)
    poke_watcher()
    flash(f"Service {row.alias} created.")
    return redirect(url_for("services.page_detail", ref=row.alias))


@bp.route("/services/<ref>")
def page_detail(ref: str) -> Any:
    mgr = platform().services
    row = _service_or_404(ref)
    view = mgr.view(row, _external())
    ops = mgr.user_operations(row, user(), view.state)
    return render_template("service.html", s=view, owner=row.user == user(),
                           actions=[a for a in ops if a in LIFECYCLE], confirm=CONFIRM,
                           can_modify="modify" in ops)


def _render_modify(row: Any, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Any:
    editable = [f for f in _fields(row.type, values, errors) if f.name not in IMMUTABLE]
    return render_template("service_modify.html", s=row, fields=editable, errors=errors,
                           types=platform().services.types()), status


@bp.route("/services/<ref>/modify")
def page_modify(ref: str) -> Any:
    row = _service_or_404(ref)
    values = platform().services.current_values(row)
    return _render_modify(row, {k: v for k, v in values.items() if v is not None}, {})


@bp.route("/services/<ref>/modify", methods=["POST"])
def page_modify_save(ref: str) -> Any:
    mgr = platform().services
    row = _service_or_404(ref)
    try:
        values = forms.parse_form(mgr.form_schema(row.type, user()), request.form)
        for name in IMMUTABLE:  # not on the form: the core keeps the service's own
            values.pop(name, None)
        mgr.modify(row.alias, values, user())
    except HpcaiError as exc:
        return _render_modify(row, request.form.to_dict(), forms.error_map(exc), 400)
    poke_watcher()
    flash(f"Service {row.alias} modified.")
    return redirect(url_for("services.page_detail", ref=row.alias))


@bp.route("/services/<ref>/log")
def page_log(ref: str) -> Any:
    try:
        return _log_download(ref)
    except NotFound:
        abort(404)


@bp.route("/services/<ref>/<action>", methods=["POST"])
def page_action(ref: str, action: str) -> Any:
    mgr = platform().services
    try:
        if action == "delete":
            mgr.delete(ref, user())
            flash(f"Service {ref} deleted.")
            poke_watcher()
            return redirect(url_for("services.page_list"))
        if action == "authorize":
            mgr.authorize(ref, [u.strip() for u in request.form.get("users", "").split(",") if u.strip()], user())
        elif action in ("start", "stop", "restart"):
            getattr(mgr, action)(ref, user())
        else:
            abort(404)
        flash(f"{action.capitalize()}: done.")
    except HpcaiError as exc:
        flash(exc.text, "error")
    poke_watcher()
    if request.form.get("back") == "list":  # pressed in the My services toolbar
        return redirect(url_for("services.page_list"))
    return redirect(url_for("services.page_detail", ref=ref))


@bp.route("/services/keys", methods=["GET", "POST"])
def page_keys() -> Any:
    mgr = platform().services
    new_key = None
    if request.method == "POST":
        try:
            if request.form.get("action") == "delete":
                mgr.delete_key(user(), int(request.form.get("key_id", "0") or 0))
                flash("API key deleted.")
            else:
                _, new_key = mgr.create_key(user(), request.form.get("name", ""))
        except HpcaiError as exc:
            flash(exc.text, "error")
    return render_template("service_keys.html", keys=mgr.keys(user()), new_key=new_key)


# --- OpenAPI ----------------------------------------------------------------------------------------

def service_body_schema(p: Any) -> dict[str, Any]:
    """The create body: the common fields plus the union of every type's own (the forms' schemas)."""
    mgr = p.services
    base = mgr.form_schema(None, "")
    props: dict[str, Any] = {k: dict(v) for k, v in base["properties"].items()}
    props["resource_spec"]["enum"] = [s.name for s in p.specs.all()]
    for name, st in mgr.types().items():
        for key, prop in st.option_schema().get("properties", {}).items():
            props.setdefault(key, dict(prop))
    for prop in props.values():
        prop.pop("default", None)  # the core fills defaults; a client may omit any optional field
    props["start"] = {"type": "boolean", "description": "start it now (default true)"}
    return {"type": "object", "required": list(base["required"]), "properties": props,
            "additionalProperties": True}


def openapi_paths() -> dict[str, Any]:
    """The services, API-key and lifecycle endpoints for portal/openapi.py."""
    err = {"$ref": "#/components/schemas/Error"}
    view = {"$ref": "#/components/schemas/Service"}

    def resp(desc: str, schema: dict[str, Any] | None = None, mime: str = "application/json") -> dict[str, Any]:
        return {"description": desc, **({"content": {mime: {"schema": schema}}} if schema else {})}

    def errors(*codes: int) -> dict[str, Any]:
        return {str(c): resp("error (the field is named)", err) for c in codes}

    conflict = {"type": "object", "properties": {
        "error": {"type": "string"}, "field": {"type": ["string", "null"]}, "fix": {"type": ["string", "null"]},
        "state": {"type": ["string", "null"]}, "allowed": {"type": "array", "items": {"type": "string"}}}}
    ref = {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "service id or alias"}
    json_body = lambda schema: {"required": True, "content": {"application/json": {"schema": schema}}}  # noqa: E731
    paths: dict[str, Any] = {
        "/service-types": {"get": {"summary": "service types with their form schemas",
                                   "responses": {"200": resp("types", {"type": "array"}), **errors(401)}}},
        "/services": {
            "get": {"summary": "your services and those shared with you (admins: all=1 for everyone's)",
                    "parameters": [{"name": "all", "in": "query", "required": False,
                                    "schema": {"type": "string", "enum": ["0", "1", "true"]}}],
                    "responses": {"200": resp("services", {"type": "array", "items": view}), **errors(401)}},
            "post": {"summary": "create a service (and start it unless start is false)",
                     "requestBody": json_body({"$ref": "#/components/schemas/ServiceValues"}),
                     "responses": {"201": resp("created", view), **errors(400, 401, 403, 503)}}},
        "/services/{ref}": {
            "get": {"summary": "one service: state, addresses, command, log tail", "parameters": [ref],
                    "responses": {"200": resp("the service", view), **errors(401, 404)}},
            "patch": {"summary": "change parameters (a running service restarts with them)", "parameters": [ref],
                      "requestBody": json_body({"type": "object", "additionalProperties": True}),
                      "responses": {"200": resp("the service", view), **errors(400, 401, 403, 404, 503),
                                    "409": resp("made by a development environment", conflict)}},
            "delete": {"summary": "stop and delete a service", "parameters": [ref],
                       "responses": {"204": resp("deleted"), **errors(401, 403, 404, 503)}}},
        "/services/{ref}/authorize": {
            "post": {"summary": "the users who may use the service (replaces the list)", "parameters": [ref],
                     "requestBody": json_body({"type": "object", "required": ["users"], "properties": {
                         "users": {"type": "array", "items": {"type": "string"}}}}),
                     "responses": {"200": resp("the service", view), **errors(400, 401, 403, 404)}}},
        "/services/{ref}/log": {
            "get": {"summary": "the service's log as output.<jobid>.txt", "parameters": [ref],
                    "responses": {"200": resp("the log", {"type": "string"}, "text/plain"),
                                  **errors(401, 404)}}},
        "/service-keys": {
            "get": {"summary": "your service API keys (without secrets)",
                    "responses": {"200": resp("keys", {"type": "array"}), **errors(401)}},
            "post": {"summary": "create a service API key (shown once; at most 5)",
                     "requestBody": {"required": False, "content": {"application/json": {"schema": {
                         "type": "object", "properties": {"name": {"type": "string"}}}}}},
                     "responses": {"201": resp("created", {"type": "object"}), **errors(400, 401)}}},
        "/service-keys/{key_id}": {
            "delete": {"summary": "delete a key: it stops working at once",
                       "parameters": [{"name": "key_id", "in": "path", "required": True,
                                       "schema": {"type": "integer"}}],
                       "responses": {"204": resp("deleted"), **errors(401, 404)}}},
    }
    for action in LIFECYCLE:
        paths[f"/services/{{ref}}/{action}"] = {"post": {
            "summary": f"{action} a service (owner; admins too); only in states {', '.join(LIFECYCLE[action])}",
            "parameters": [ref],
            "responses": {"200": resp("the service", view), **errors(400, 401, 403, 404, 503),
                          "409": resp("not allowed in the service's state (or origin): says the state and "
                                      "the actions allowed now", conflict)}}}
    return paths


def openapi_components(p: Any) -> dict[str, Any]:
    view = {"type": "object", "required": ["id", "alias", "name", "type", "user", "state"], "properties": {
        "id": {"type": "integer"}, "alias": {"type": "string"}, "name": {"type": "string"},
        "type": {"type": "string"}, "user": {"type": "string"},
        "state": {"type": "string", "description": "stopped, queued, starting, running, failed, ..."},
        "external_path": {"type": "string"}, "internal_url": {"type": ["string", "null"]},
        "options": {"type": "object"}, "authorized": {"type": "array", "items": {"type": "string"}},
        "auth": {"type": "boolean"}, "job_id": {"type": ["integer", "null"]},
        "origin": {"type": "string", "description": "services (My services) or devenv (a development environment)"},
        "actions": {"type": "array", "items": {"type": "string"},
                    "description": "start, stop, restart: those the state and origin allow now"},
        "log_tail": {"type": "array", "items": {"type": "string"}}}}
    return {"Service": view, "ServiceValues": service_body_schema(p)}
