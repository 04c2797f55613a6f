"""The CLI's remote mode: jsub, jjobs, jkill/jstop/jresume and `hpcai jobs/show/logs/kill/...`
through the portal's REST API (/api/v1) with the user's token, instead of opening the store.

It is on whenever HPCAI_PORTAL_URL and HPCAI_API_TOKEN are both set, as the platform sets them in
every development environment (core.environments): there the store and its secrets are the
portal's (0600 root on a multi-user site), and the token says who the user is. Everything the
user typed is still parsed and checked here by the same core code as the local mode (a #BSUB
script by core.bsubjob); the API's 4xx answers become the same `error: field: message (fix)`
lines and exit status 2 as a local mistake. Standard library only: the CLI stays light.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from core.errors import Conflict, HpcaiError, NotFound, PermissionDenied, ValidationError

URL_ENV, TOKEN_ENV = "HPCAI_PORTAL_URL", "HPCAI_API_TOKEN"
TIMEOUT_S = 60
_TIMES = ("submit_time", "start_time", "end_time")
#: the site configuration as a remote command sees it: none (the portal's may be unreadable here;
#: times are shown in HPCAI_TIMEZONE or the machine's zone)
NO_CONFIG = SimpleNamespace(raw={})


class PortalUnavailable(HpcaiError):
    """The portal could not be reached; nothing was changed."""

    status = 503
    exit_code = 1


def client() -> "Client | None":
    """The remote client when this shell runs with a portal URL and token, else None (local mode)."""
    url, token = os.environ.get(URL_ENV, "").strip(), os.environ.get(TOKEN_ENV, "").strip()
    return Client(url, token) if url and token else None


class Client:
    def __init__(self, url: str, token: str):
        self.base = url.rstrip("/") + "/api/v1"
        self.token = token

    def call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        q = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.base + path + ("?" + urllib.parse.urlencode(q) if q else "")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/json",
            **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise error_from_response(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PortalUnavailable(f"cannot reach the portal at {self.base}: {reason}", field=None,
                                    fix=f"check {URL_ENV}, or ask the site admin whether the portal is up") from None
        return json.loads(raw) if raw else None

    # --- jobs ----------------------------------------------------------------------------------

    def jobs(self, all_users: bool = False, states: list[str] | None = None, framework: str | None = None,
             name: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[Any], int]:
        """Like JobService.list: (rows newest first, total). The API filters one state at a time
        and pages by 200: several states are asked one by one and merged here."""
        query = {"all": "1" if all_users else None, "framework": framework, "name": name, "per_page": 200}
        rows: list[Any] = []
        total = 0
        for state in states or [None]:
            page = 1
            while True:
                got = self.call("GET", "/jobs", query={**query, "state": state, "page": page})
                rows += [row(j) for j in got["jobs"]]
                if not got["jobs"] or page * 200 >= got["total"] or (states is None and len(rows) >= offset + limit):
                    total += got["total"]
                    break
                page += 1
        rows.sort(key=lambda r: r.id, reverse=True)
        return rows[offset:offset + limit], total

    def job(self, job_id: int | str) -> Any:
        text = str(job_id).strip()
        if not text.isdigit():
            raise NotFound(f"no job '{job_id}'", field="job", fix="give a job id from `hpcai jobs`")
        return row(self.call("GET", f"/jobs/{text}"))

    def by_scheduler_id(self, jid: str) -> Any:
        """The caller's job with this scheduler job id (jjobs' JOBID)."""
        for r in self.jobs(limit=10**6)[0]:
            if r.scheduler_job_id == jid:
                return r
        raise NotFound(f"no job with job ID {jid}", field="job", fix="see jjobs -a for your jobs")

    def action(self, job_id: int, action: str) -> Any:
        return row(self.call("POST", f"/jobs/{job_id}/{action}"))

    def submit_batch(self, wire: dict[str, Any]) -> Any:
        return row(self.call("POST", "/jobs/batch", wire))

    def log(self, job_id: int, offset: int = 0) -> dict[str, Any]:
        got: dict[str, Any] = self.call("GET", f"/jobs/{job_id}/log", query={"offset": offset, "limit": 1 << 20})
        return got


def row(data: dict[str, Any]) -> Any:
    """An API job as the attributes the CLI's printers read from a store row."""
    values = dict(data)
    for k in _TIMES:
        if values.get(k):
            values[k] = datetime.fromisoformat(values[k])
    values.setdefault("plan", {})
    values.setdefault("request", {})
    values.setdefault("script", None)
    values.setdefault("stdout_path", None)
    values.setdefault("from_host", None)
    return SimpleNamespace(**values)


_STATUS = {400: ValidationError, 401: PermissionDenied, 403: PermissionDenied, 404: NotFound, 409: Conflict}


def error_from_response(status: int, body: bytes) -> HpcaiError:
    """An API error answer ({error, field, fix} or {errors: [...]}) as the CLI's own error."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if status == 401:
        return PermissionDenied("the portal refused this shell's token", field=None,
                                fix="restart the environment for a new one, or set HPCAI_API_TOKEN "
                                    "to a token from the portal's Account page")
    cls = _STATUS.get(status, ValidationError if 400 <= status < 500 else PortalUnavailable)
    errors = data.get("errors") if isinstance(data.get("errors"), list) else None
    found = [cls(str(e.get("error")), field=e.get("field"), fix=e.get("fix"))
             for e in errors or [] if isinstance(e, dict)]
    if found:  # several fields at once: one line each
        from core.errors import ValidationErrors

        return ValidationErrors(found)
    message = data.get("error") or f"the portal answered HTTP {status}"
    err = cls(str(message), field=data.get("field"), fix=data.get("fix"))
    if status >= 500 and not isinstance(err, PortalUnavailable):
        err.exit_code = 1
    return err
