"""Reading back what was logged, through MLflow's REST API (what any other client would see)."""

from __future__ import annotations

import base64
import json
import os
import urllib.parse
import urllib.request
from typing import Any


def auth_headers() -> dict[str, str]:
    """The session's MLflow authenticates: sign in as this process's user (the platform's admin,
    set by tests/fixtures_services.mlflow_server), as any MLflow client here does."""
    user, pw = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()} if user else {}


def auth() -> tuple[str, str] | None:
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    return (user, os.environ.get("MLFLOW_TRACKING_PASSWORD", "")) if user else None


def api(url: str, endpoint: str, body: dict[str, Any] | None = None, **query: Any) -> dict[str, Any]:
    full = f"{url}/api/2.0/mlflow/{endpoint}" + ("?" + urllib.parse.urlencode(query) if query else "")
    req = urllib.request.Request(full, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json", **auth_headers()},
                                 method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"{}")


def run(url: str, run_id: str) -> dict[str, Any]:
    return api(url, "runs/get", run_id=run_id)["run"]


def params(run_json: dict[str, Any]) -> dict[str, str]:
    return {p["key"]: p["value"] for p in run_json["data"].get("params", [])}


def metrics(run_json: dict[str, Any]) -> dict[str, float]:
    return {m["key"]: m["value"] for m in run_json["data"].get("metrics", [])}


def tags(run_json: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run_json["data"].get("tags", [])}


def history(url: str, run_id: str, key: str) -> list[tuple[int, float]]:
    got = api(url, "metrics/get-history", run_id=run_id, metric_key=key).get("metrics", [])
    return sorted((int(m.get("step", 0)), m["value"]) for m in got)


def artifacts(url: str, run_id: str, path: str = "") -> list[str]:
    query = {"run_id": run_id, **({"path": path} if path else {})}
    files = api(url, "artifacts/list", **query).get("files", [])
    out: list[str] = []
    for f in files:
        out += artifacts(url, run_id, f["path"]) if f.get("is_dir") else [f["path"]]
    return out


def download(url: str, run_id: str, path: str) -> bytes:
    exp = run(url, run_id)["info"]["experiment_id"]
    full = f"{url}/api/2.0/mlflow-artifacts/artifacts/{exp}/{run_id}/artifacts/{path}"
    with urllib.request.urlopen(urllib.request.Request(full, headers=auth_headers()), timeout=30) as resp:
        return resp.read()


def search_runs(url: str, experiment_ids: list[str], filter_string: str = "") -> list[dict[str, Any]]:
    return api(url, "runs/search", {"experiment_ids": experiment_ids, "filter": filter_string,
                                    "max_results": 1000}).get("runs", [])


def experiment_by_name(url: str, name: str) -> dict[str, Any]:
    return api(url, "experiments/get-by-name", experiment_name=name)["experiment"]
