"""MLflow's model registry over REST (api/2.0): the registry's versions live there too.

A platform model is an MLflow registered model named `<owner>.<name>` (MLflow's names are
global, ours are per owner); each version is an MLflow model version whose source is the
logged model it came from (`models:/m-...`, with its run) or, for files on the cluster's file
system, `hpcai:///<directory>` (MLflow refuses bare local paths outside its own artifact store,
rightly: the server must not be told to read arbitrary paths). Aliases, not stages: MLflow's
stages are deprecated.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
from pathlib import Path
from typing import Any

from core.errors import HpcaiError
from core.trackingclient import TrackingClient, TrackingUnavailable

FILES_SCHEME = "hpcai://"


def files_source(directory: str | Path) -> str:
    return FILES_SCHEME + str(Path(directory))  # hpcai:///abs/dir


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": str(v)} for k, v in tags.items()]


class RegistryClient(TrackingClient):
    """The registered-model, model-version, alias and logged-model calls the registry needs."""

    def create_model(self, name: str, description: str, tags: dict[str, str]) -> None:
        self._req("POST", "registered-models/create", {"name": name, "description": description,
                                                       "tags": _tags(tags)})

    def update_model(self, name: str, description: str) -> None:
        self._req("PATCH", "registered-models/update", {"name": name, "description": description})

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        self._req("POST", "registered-models/set-tag", {"name": name, "key": key, "value": value})

    def delete_model(self, name: str) -> None:
        self._req("DELETE", "registered-models/delete", {"name": name})

    def get_model(self, name: str) -> dict[str, Any]:
        return self._req("GET", "registered-models/get", query={"name": name})["registered_model"]

    def create_version(self, name: str, source: str, description: str, tags: dict[str, str],
                       run_id: str | None = None, model_id: str | None = None) -> str:
        body: dict[str, Any] = {"name": name, "source": source, "description": description, "tags": _tags(tags)}
        if run_id:
            body["run_id"] = run_id
        if model_id:
            body["model_id"] = model_id
        return str(self._req("POST", "model-versions/create", body)["model_version"]["version"])

    def delete_version(self, name: str, version: str) -> None:
        self._req("DELETE", "model-versions/delete", {"name": name, "version": version})

    def get_version(self, name: str, version: str) -> dict[str, Any]:
        return self._req("GET", "model-versions/get", query={"name": name, "version": version})["model_version"]

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._req("POST", "registered-models/alias", {"name": name, "alias": alias, "version": version})

    def delete_alias(self, name: str, alias: str) -> None:
        self._req("DELETE", "registered-models/alias", {"name": name, "alias": alias})

    def aliases(self, name: str) -> dict[str, str]:
        """alias -> version number (text) of one registered model."""
        return {a["alias"]: str(a["version"]) for a in self.get_model(name).get("aliases", [])}

    def run_logged_models(self, run_id: str) -> list[dict[str, Any]]:
        """The models a run logged (mlflow.<flavor>.log_model), newest first."""
        run = self.run(run_id)
        body = {"experiment_ids": [run["info"]["experiment_id"]],
                "filter": f"source_run_id = '{run_id}'", "max_results": 50,
                "order_by": [{"field_name": "creation_timestamp", "ascending": False}]}
        return [m for m in self._req("POST", "logged-models/search", body).get("models", [])]

    # --- artifacts: a logged model's files, downloaded into a version directory ---------------

    def _artifacts(self, path: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/2.0/mlflow-artifacts/artifacts?" + urllib.parse.urlencode({"path": path})
        return json.loads(self._get(url) or b"{}").get("files", [])

    def _get(self, url: str) -> bytes:
        try:
            with self._open(url) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            raise HpcaiError(f"the tracking server refused {url} ({exc.code})") from None
        except (urllib.error.URLError, OSError) as exc:
            raise TrackingUnavailable(f"the tracking server {self.url} is unreachable ({exc})") from None

    def download(self, artifact_uri: str, target: Path, max_files: int = 10000) -> int:
        """Copy everything under an `mlflow-artifacts:/...` location into `target`; returns files."""
        prefix = "mlflow-artifacts:"
        if not artifact_uri.startswith(prefix):
            raise HpcaiError(f"cannot download {artifact_uri}: only the tracking server's own artifacts "
                             "(mlflow-artifacts:/) are fetched", fix="log the model to the platform's MLflow server")
        root = artifact_uri[len(prefix):].lstrip("/")
        count, todo = 0, [""]
        while todo:
            rel = todo.pop()
            for f in self._artifacts(f"{root}/{rel}".rstrip("/")):
                name = f["path"].rsplit("/", 1)[-1]
                sub = f"{rel}/{name}".lstrip("/")
                if f.get("is_dir"):
                    todo.append(sub)
                    continue
                dest = target / sub
                dest.parent.mkdir(parents=True, exist_ok=True)
                url = f"{self.url}/api/2.0/mlflow-artifacts/artifacts/" + urllib.parse.quote(f"{root}/{sub}")
                with self._open(url) as resp, open(dest, "wb") as out:
                    shutil.copyfileobj(resp, out)
                count += 1
                if count > max_files:
                    raise HpcaiError(f"the logged model has more than {max_files} files")
        return count
