"""Log-in, sessions, CSRF and API tokens. Accounts and their rules live in core.accounts."""

from __future__ import annotations

import functools
import hmac
import secrets
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from core.accounts import TooManyAttempts
from core.sessions import Sessions
from core.errors import HpcaiError
from portal.web import platform

bp = Blueprint("auth", __name__)
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
OPEN_ENDPOINTS = {"auth.login", "static", "api.openapi",
                  "views.job_file"}  # checks a signed key in its path itself (a sandbox sends no cookie)
# The service proxy checks access itself (session, authorised user or service API key).
PROXY_ENDPOINTS = {"services.proxy", "services.proxy_root", "services.proxy_bare", "services.origin_auth",
                   "services.proxy_authz"}


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _load_account() -> None:
    g.account = None
    g.via_token = False
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        acct = platform().accounts.token_user(auth.removeprefix("Bearer ").strip())
        if acct is None:
            return
        g.account, g.via_token = acct, True
        return
    name = session.get("user")
    if name:
        # The cookie names a server-side session: logged out, password changed, account disabled
        # or deleted, and it is gone (core.sessions), whoever holds a copy of the cookie.
        acct = platform().accounts.find(name)
        if acct is None or acct.disabled or Sessions(platform().store).user_of(session.get("sid")) != name:
            session.clear()
            return
        g.account = acct


def _check_csrf() -> None:
    """Cookie-authenticated writes need the session's token (form field or X-CSRF-Token)."""
    if request.method not in UNSAFE or g.get("via_token"):
        return
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not session.get("csrf") or not hmac.compare_digest(sent, session["csrf"]):
        if _is_api():
            abort(make_response(jsonify({"error": "missing or wrong CSRF token", "field": "csrf_token",
                                         "fix": "send the X-CSRF-Token header of your session, "
                                                "or use an API token"}), 403))
        abort(400, description="The form expired or did not come from this site; reload the page and try again.")


def init(app: Flask) -> None:
    @app.before_request
    def _before() -> Any:
        if request.endpoint in PROXY_ENDPOINTS:
            g.account, g.via_token = None, False
            return None  # the proxy checks the session's account itself, in its one query
        _load_account()
        if request.endpoint in OPEN_ENDPOINTS:
            if request.endpoint == "auth.login":
                _check_csrf()
            return None
        if g.account is None:
            if _is_api():
                return jsonify({"error": "authentication required", "field": "Authorization",
                                "fix": "send 'Authorization: Bearer <token>' (create one under Account)"}), 401
            return redirect(url_for("auth.login", next=request.full_path))
        _check_csrf()
        return None

    @app.after_request
    def _headers(resp: Any) -> Any:
        if request.endpoint in PROXY_ENDPOINTS:
            return resp  # a proxied service's own headers (its scripts, frames) stay as they are
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if g.get("account") is not None and request.endpoint != "static":
            resp.headers.setdefault("Cache-Control", "no-store")  # a user's pages stay out of shared caches
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                "script-src 'self'; frame-ancestors 'self'")
        return resp

    @app.context_processor
    def _ctx() -> dict[str, Any]:
        return {"csrf_token": csrf_token, "me": g.get("account")}


def admin_required(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        if g.account is None or not g.account.is_admin:
            if _is_api():
                return jsonify({"error": "administrators only", "field": None,
                                "fix": "ask an administrator"}), 403
            abort(403)
        return fn(*args, **kwargs)

    return inner


def client_address() -> str | None:
    """The client's address for log-in throttling. Behind the site's reverse proxy every request
    comes from the proxy: when the peer is one of [portal] trusted_proxies, the address is the
    last X-Forwarded-For entry that is not a trusted proxy (what the proxy itself appended)."""
    peer = request.remote_addr
    trusted = set(platform().config.raw.get("portal", {}).get("trusted_proxies", []))
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop[:128]
    return peer


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths; anything else goes home (no open redirect)."""
    if not target:
        return url_for("views.home")
    if any(ord(c) < 0x20 or c in "\\\x7f" for c in target):  # a newline would split the header (500)
        return url_for("views.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("views.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error, status, headers = None, 200, {}
    if request.method == "POST":
        try:
            acct = platform().accounts.login(request.form.get("username", ""), request.form.get("password", ""),
                                             client_address())
        except TooManyAttempts as exc:
            error, status, headers = exc.message.capitalize(), 429, {"Retry-After": str(exc.retry_after)}
        except HpcaiError as exc:
            error, status = exc.message, 401
        else:
            _start_session(acct.name)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error), status, headers


def _start_session(name: str) -> None:
    """A new cookie and a new server-side id at every log-in (no session fixation)."""
    session.clear()
    session["user"] = name
    session["sid"] = Sessions(platform().store).start(name)
    csrf_token()


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    Sessions(platform().store).end(session.get("sid"))
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
def account_page() -> Any:
    accounts = platform().accounts
    new_token = None
    errors: dict[str, str] = {}
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "token":
                new_token = accounts.create_token(g.account.name, request.form.get("label", ""))
            elif action == "revoke":
                accounts.revoke_token(g.account.name, int(request.form.get("token_id", "0") or 0))
                flash("Token revoked.")
            elif action == "locale":
                from core.userprefs import UserPrefs

                UserPrefs(platform().store).set_locale(g.account.name, request.form.get("locale") or None)
                return redirect(url_for("auth.account_page"))
            elif action == "password":
                accounts.login(g.account.name, request.form.get("old_password", ""), client_address())
                accounts.update(g.account.name, password=request.form.get("new_password", ""))
                _start_session(g.account.name)  # every other session of the account has ended
                flash("Password changed.")
        except TooManyAttempts as exc:
            errors["password"] = exc.message
        except HpcaiError as exc:
            errors[exc.field or "form"] = exc.text
    from core.userprefs import UserPrefs

    return render_template("account.html", tokens=accounts.tokens(g.account.name), new_token=new_token,
                           errors=errors, my_locale=UserPrefs(platform().store).locale(g.account.name) or "",
                           site_locale=platform().settings.locale())
