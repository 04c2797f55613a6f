"""Proxied services on origins of their own, apart from the portal's (JupyterHub's subdomain mode).

A service's pages run the service owner's scripts: on the portal's origin they could read the
portal's pages as the visitor, or set the portal's cookies. So a browser reaches a service at
`http://<alias>.<domain>[:port]/dockerService/<alias>/...` (the path stays, so every type's
rules and rewrites stay the same), where the portal's session cookie is never sent:

1. the portal's `/dockerService/<alias>/...` checks the visitor's session as always, then
   redirects to the service origin's `/_hpcai/auth` with a 60-second token signed by the portal
   and bound to that alias;
2. `/_hpcai/auth` turns it into a cookie of that origin only (`hpcai_svc`, signed, bound to the
   alias) and redirects on;
3. every request on the service origin is the proxy's: the cookie names the user and the proxy
   checks that account and the service's sharing on every request, as for the portal session.

`[services] origin`: "auto" (default: services at `<alias>.svc.localhost` whenever the portal is
addressed by a loopback address; Chromium and Firefox resolve `*.localhost` to loopback
themselves), a template such as "https://{alias}.svc.hpc.example.edu" (wildcard DNS and
certificate), or "path" (no separate origin: a single-user workstation only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Flask, abort, current_app, redirect, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from core.services import PROXY_PREFIX
from portal.web import platform

COOKIE = "hpcai_svc"
AUTH_PATH = "/_hpcai/auth"
HANDOFF_S = 60
COOKIE_S = 12 * 3600
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
AUTO_DOMAIN = "svc.localhost"


@dataclass(frozen=True)
class Origins:
    """How service origins are named here: `template` with {alias}, or none (path mode)."""

    template: str | None
    host_pattern: re.Pattern[str] | None

    def url(self, alias: str) -> str | None:
        return self.template.format(alias=alias) if self.template else None

    def alias_of(self, host: str) -> str | None:
        if self.host_pattern is None:
            return None
        m = self.host_pattern.fullmatch(host.lower())
        return m.group("alias") if m else None


def _setting() -> str:
    return str(platform().config.raw.get("services", {}).get("origin", "auto")).strip() or "auto"


def origins(host: str | None = None) -> Origins:
    """The service origins for a request that arrived for `host` (the portal's own host)."""
    setting = _setting()
    if setting == "path":
        return Origins(None, None)
    if setting == "auto":
        host = host if host is not None else request.host
        name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
        name = name or host
        if name.lower() not in LOOPBACK and not name.lower().endswith("." + AUTO_DOMAIN):
            return Origins(None, None)  # reached by a real name: no wildcard DNS to rely on
        suffix = f".{AUTO_DOMAIN}" + (f":{port}" if port.isdigit() else "")
        return Origins(f"{request.scheme}://{{alias}}{suffix}",
                       re.compile(r"(?P<alias>[a-z0-9][a-z0-9_.-]*)" + re.escape(suffix)))
    parts = urlsplit(setting.replace("{alias}", "ALIAS"))
    if "{alias}" not in setting or not parts.netloc.startswith("ALIAS"):
        raise ValueError("[services] origin must be auto, path or a URL whose host starts with {alias}")
    rest = parts.netloc[len("ALIAS"):].lower().split(":")[0]
    return Origins(setting, re.compile(r"(?P<alias>[a-z0-9][a-z0-9_.-]*)" + re.escape(rest) + r"(?::\d+)?"))


def service_alias() -> str | None:
    """The alias whose origin this request arrived on, or None (the portal's own origin)."""
    return origins().alias_of(request.host) if request.host else None


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def handoff(alias: str, user: str, next_path: str) -> Any:
    """From the portal origin: send the visitor, whose access was just checked, to the service origin."""
    url = origins().url(alias)
    assert url is not None
    token = _serializer("hpcai-svc-handoff").dumps({"u": user, "a": alias})
    # 307 keeps a POST's method and body (302 would turn it into a GET)
    code = 302 if request.method in ("GET", "HEAD") else 307
    resp = redirect(f"{url}{AUTH_PATH}?" + urlencode({"t": token, "next": next_path}), code=code)
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def cookie_user(alias: str) -> str | None:
    """The user the service-origin cookie names, if it is ours, fresh and for this alias."""
    # every value: a cookie of the same name the service set for a narrower path comes first
    for raw in request.cookies.getlist(COOKIE):
        try:
            data = _serializer("hpcai-svc-session").loads(raw, max_age=COOKIE_S)
        except BadSignature:
            continue
        if isinstance(data, dict) and data.get("a") == alias:
            return str(data["u"])
    return None


def portal_url(path: str) -> str:
    """Back to the portal origin (to log in, or to get a new cookie)."""
    setting = _setting()
    base = platform().config.raw.get("services", {}).get("portal_url")
    if not base:
        host = request.host
        port = host.rpartition(":")[2] if ":" in host else ""
        base = f"{request.scheme}://127.0.0.1" + (f":{port}" if port.isdigit() else "") \
            if setting == "auto" else ""
    return f"{str(base).rstrip('/')}{path}"


def _auth() -> Any:
    """On a service origin: the portal's token becomes this origin's cookie."""
    alias = service_alias()
    if alias is None:
        abort(404)
    prefix = f"{PROXY_PREFIX}/{alias}/"
    next_path = request.args.get("next", prefix)
    if not next_path.startswith(prefix) or any(c in next_path for c in "\r\n\\"):
        next_path = prefix  # only somewhere inside this service
    try:
        data = _serializer("hpcai-svc-handoff").loads(request.args.get("t", ""), max_age=HANDOFF_S)
    except BadSignature:
        data = None
    if not isinstance(data, dict) or data.get("a") != alias:
        return redirect(portal_url(next_path))  # stale or foreign: the portal checks and hands off again
    resp = redirect(next_path, code=302 if request.method in ("GET", "HEAD") else 307)
    resp.set_cookie(COOKIE, _serializer("hpcai-svc-session").dumps({"u": data["u"], "a": alias}),
                    max_age=COOKIE_S, path="/", httponly=True, samesite="Lax",
                    secure=request.scheme == "https")
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = "no-store"
    return resp


PROXY_ENDPOINTS = ("services.proxy", "services.proxy_root", "services.proxy_bare", "services.origin_auth",
                   "services.proxy_authz")


def init(app: Flask) -> None:
    """A service origin serves the proxy and its /_hpcai/auth, nothing of the portal."""
    app.add_url_rule(AUTH_PATH, endpoint="services.origin_auth", view_func=_auth,
                     methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])

    def only_the_proxy() -> Any:
        if request.endpoint not in PROXY_ENDPOINTS and service_alias() is not None:
            abort(404)
        return None

    app.before_request_funcs.setdefault(None, []).insert(0, only_the_proxy)
