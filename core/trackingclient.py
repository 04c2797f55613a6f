"""The platform's client of the tracking server's REST API (api/2.0, and MLflow 3's permission API
at api/3.0): the few calls experiments and the model registry need, with paging done here. It
signs in as the platform where the server authenticates (core.trackingauth). Standard library
only: the core never imports mlflow.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from core import tracking
from core.errors import HpcaiError, NotFound, ValidationError

PAGE = 1000  # MLflow's largest page of runs/search
RUNS_PAGE = 100  # the runs table's first page and each "Load more" (MLflow's UI loads 100 too)


class TrackingUnavailable(HpcaiError):
    """The tracking server is down or failing. The message speaks the user's terms; `detail`
    keeps the technical cause (URL, socket error) for logs and the administrator's CLI."""

    status = 503

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__("experiment tracking is unavailable right now: the tracking server does not answer",
                         field="tracking",
                         fix="if the portal has just started it is still starting, try again in a minute; "
                             "otherwise tell the site administrator")


class TrackingClient:
    """The few MLflow REST calls the platform needs (api/2.0), with paging done here. It signs in
    as the platform (`headers`: the admin's basic auth, core.trackingauth) where auth is on."""

    def __init__(self, url: str, timeout: float = 15.0, headers: dict[str, str] | None = None):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.auth = bool(self.headers)

    @classmethod
    def for_settings(cls, settings: tracking.TrackingSettings) -> "TrackingClient":
        return cls(settings.url, headers=settings.admin_headers())

    def _open(self, url: str, data: bytes | None = None, method: str = "GET") -> Any:
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **self.headers})
        return urllib.request.urlopen(req, timeout=self.timeout)

    def _req(self, method: str, path: str, body: dict[str, Any] | None = None,
             query: dict[str, Any] | None = None, api: str = "2.0") -> dict[str, Any]:
        url = f"{self.url}/api/{api}/mlflow/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        try:
            with self._open(url, data, method) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read() or b"{}")
            except ValueError:
                detail = {}
            if exc.code == 404 or detail.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
                raise NotFound(detail.get("message", f"{path}: not found")) from None
            if exc.code < 500:
                raise ValidationError(detail.get("message", f"{path}: HTTP {exc.code}")) from None
            raise TrackingUnavailable(f"the tracking server {self.url} failed ({exc.code}) on {path}; "
                                      "see the MLflow server log") from None
        except (urllib.error.URLError, OSError) as exc:
            raise TrackingUnavailable(f"the tracking server {self.url} is unreachable ({exc}); start it "
                                      "with `hpcai serve` or `hpcai mlflow`, or check [tracking] in "
                                      "etc/hpcai.toml") from None

    def _pages(self, path: str, body: dict[str, Any], key: str) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            page = self._req("POST", path, {**body, **({"page_token": token} if token else {})})
            yield from page.get(key, [])
            token = page.get("next_page_token")
            if not token:
                return

    def experiments(self) -> list[dict[str, Any]]:
        return list(self._pages("experiments/search", {"max_results": PAGE, "view_type": "ACTIVE_ONLY"},
                                "experiments"))

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        return self._req("GET", "experiments/get", query={"experiment_id": experiment_id})["experiment"]

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self._req("POST", "experiments/set-experiment-tag",
                  {"experiment_id": experiment_id, "key": key, "value": value})

    # MLflow 3's per-user permission API (api/3.0), the platform's alone (trackingauth.mlflow_app)
    def permission(self, experiment_id: str, user: str) -> str:
        """`user`'s permission on the experiment: MANAGE, EDIT, READ or NO_PERMISSIONS."""
        try:
            return str(self._req("GET", "users/permissions/get", api="3.0", query={
                "username": user, "resource_type": "experiment", "resource_id": experiment_id}).get("permission"))
        except NotFound:  # a user who never signed in has none
            return "NO_PERMISSIONS"

    def grant(self, experiment_id: str, user: str, permission: str) -> None:
        self._req("POST", "users/permissions/grant", api="3.0", body={
            "username": user, "resource_type": "experiment", "resource_id": experiment_id,
            "permission": permission})

    def revoke(self, experiment_id: str, user: str) -> None:
        try:
            self._req("POST", "users/permissions/revoke", api="3.0", body={
                "username": user, "resource_type": "experiment", "resource_id": experiment_id})
        except (NotFound, ValidationError):  # nothing granted, or a user who never signed in
            pass

    def delete_run(self, run_id: str) -> None:
        """MLflow's soft delete: the run leaves searches; `mlflow gc` purges it later."""
        self._req("POST", "runs/delete", {"run_id": run_id})

    @staticmethod
    def _search(experiment_ids: list[str], filter_string: str, max_results: int) -> dict[str, Any]:
        return {"experiment_ids": experiment_ids, "filter": filter_string, "max_results": max_results,
                "order_by": ["attributes.start_time DESC"], "run_view_type": "ACTIVE_ONLY"}

    def runs(self, experiment_ids: list[str], filter_string: str = "") -> list[dict[str, Any]]:
        if not experiment_ids:
            return []
        return list(self._pages("runs/search", self._search(experiment_ids, filter_string, PAGE), "runs"))

    def runs_page(self, experiment_ids: list[str], filter_string: str = "", max_results: int = RUNS_PAGE,
                  page_token: str = "") -> tuple[list[dict[str, Any]], str]:
        """One page of runs and the token of the next one ("" after the last): MLflow's own
        paging, so a page costs the same however many runs the experiment holds."""
        body = self._search(experiment_ids, filter_string, max_results)
        if page_token:
            body["page_token"] = page_token
        page = self._req("POST", "runs/search", body)
        return page.get("runs", []), page.get("next_page_token") or ""

    def run(self, run_id: str) -> dict[str, Any]:
        return self._req("GET", "runs/get", query={"run_id": run_id})["run"]

    def metric_history(self, run_id: str, key: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token = None
        while True:
            q = {"run_id": run_id, "metric_key": key, "max_results": 25000}
            if token:
                q["page_token"] = token
            page = self._req("GET", "metrics/get-history", query=q)
            out.extend(page.get("metrics", []))
            token = page.get("next_page_token")
            if not token:
                return out

    def artifacts(self, run_id: str, path: str = "") -> list[dict[str, Any]]:
        """One directory level of a run's artifacts: [{path, is_dir, file_size}]."""
        query = {"run_id": run_id, **({"path": path} if path else {})}
        return list(self._req("GET", "artifacts/list", query=query).get("files", []))

    def open_artifact(self, run_id: str, path: str) -> Any:
        """A run's artifact file as a readable HTTP response (served by the tracking server)."""
        url = f"{self.url}/get-artifact?" + urllib.parse.urlencode({"path": path, "run_uuid": run_id})
        try:
            return self._open(url)
        except urllib.error.HTTPError as exc:
            if exc.code in (400, 404):
                raise NotFound(f"no artifact {path}", field="path") from None
            raise TrackingUnavailable(f"the tracking server {self.url} failed ({exc.code}) on get-artifact") from None
        except (urllib.error.URLError, OSError) as exc:
            raise TrackingUnavailable(f"the tracking server {self.url} is unreachable ({exc})") from None

    def logged_model(self, model_id: str) -> dict[str, Any]:
        return self._req("GET", f"logged-models/{urllib.parse.quote(model_id)}")["model"]
