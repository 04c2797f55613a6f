"""My services: pages, /api/v1/services, and the authenticating proxy /dockerService/<alias>/.

Every rule (who may use a service, where it listens, which hosts may be reached, API keys)
lives in core.services; this module only moves bytes and renders.
"""

from __future__ import annotations

import http.client
import re
from typing import Any, Iterator
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from core.errors import HpcaiError, NotFound, PermissionDenied, ValidationError
from core.services import PROXY_PREFIX
from portal import forms
from portal.web import json_body, json_errors, platform, poke_watcher, user

bp = Blueprint("services", __name__)
api = Blueprint("services_api", __name__, url_prefix="/api/v1")

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length", "expect"}
CHUNK = 64 * 1024
UPSTREAM_TIMEOUT_S = 300
SESSION_COOKIE = re.compile(r"(?:^|;\s*)hpcai_session=[^;]*")


# --- the proxy ----------------------------------------------------------------------------------

def _bearer() -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None


def _deny(status: int, message: str, fix: str) -> Response:
    resp = jsonify({"error": message, "field": "Authorization", "fix": fix})
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="hpcai services"'
    return resp


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
    try:
        row = mgr._row(alias)
    except NotFound:
        return _deny(404, f"no service '{alias}'", "check the address on the service's page")
    session_user = g.account.name if g.get("account") is not None and not g.get("via_token") else None
    bearer = _bearer()
    if not mgr.may_access(row, session_user, bearer):
        if bearer or mgr.type(row.type).auth_enabled(row.options or {}):
            return _deny(401, "a valid API key is required", "send 'Authorization: Bearer <API key>' "
                         "(create one under My services > API keys)")
        if session_user is None:
            return redirect(url_for("auth.login", next=request.full_path))
        return _deny(403, f"service {alias} is not shared with you", "ask its owner to authorise you")
    try:
        host, port, rules = mgr.target(row)
    except HpcaiError as exc:  # not running (503) or an address outside the cluster (403)
        resp = jsonify(exc.as_dict())
        resp.status_code = 403 if isinstance(exc, PermissionDenied) else 503
        return resp
    prefix = f"{PROXY_PREFIX}/{alias}"
    path = "/" + rest
    upstream_path = (rules.upstream_prefix + path) if rules.strip_prefix else prefix + path
    if request.query_string:
        upstream_path += "?" + request.query_string.decode("latin-1")
    headers = _upstream_headers(rules.request_headers, strip_auth=bearer is not None and session_user is None)
    conn = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT_S)
    try:
        conn.putrequest(request.method, upstream_path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", f"{host}:{port}")
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
        upstream = conn.getresponse()
    except OSError as exc:
        conn.close()
        return _deny(502, f"service {alias} did not answer: {exc}", "see the service's log")
    out = []
    for k, v in upstream.getheaders():
        lk = k.lower()
        if lk in HOP_BY_HOP and lk != "content-length":
            continue
        if lk == "location" and rules.rewrite_redirects:
            v = _rewrite_location(v, host, port, prefix, rules.strip_prefix, rules.upstream_prefix)
        elif lk == "set-cookie" and rules.rewrite_cookie_path:
            v = _rewrite_cookie(v, prefix)
        out.append((k, v))

    head = request.method == "HEAD"

    def body() -> Iterator[bytes]:
        try:
            while True:
                data = upstream.read1(CHUNK) if not head else b""
                if not data:
                    break
                yield data
        finally:
            conn.close()

    resp = Response(body(), status=upstream.status, headers=out, direct_passthrough=True)
    if not any(k.lower() == "content-type" for k, _ in out):
        del resp.headers["Content-Type"]  # no type of ours on a body that has none
    return resp


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
    data = request.get_json(silent=True) or {}
    key_id, key = platform().services.create_key(user(), str(data.get("name", "")))
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
    views = [mgr.view(r, _external()) for r in mgr.list(user(), all_users, search=q)]
    return render_template("services.html", services=views, types=mgr.types(), q=q, all_users=all_users)


def _render_form(type_name: str, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Any:
    p = platform()
    schema = p.services.form_schema(type_name, user())
    specs = p.specs.visible(user(), p.jobs.groups_of(user()))
    fields = forms.widgets(schema, {**values, "type": type_name}, errors, specs, p.images.images, "", False)
    return render_template("service_new.html", fields=fields, type_name=type_name, errors=errors,
                           types=p.services.types()), status


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
    try:
        row = mgr.get(ref, user())
    except NotFound:
        abort(404)
    return render_template("service.html", s=mgr.view(row, _external()), owner=row.user == user())


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
