"""The dataset API of libaiflow (spec 12 §B.5), over the portal's REST API /api/v1/datasets.

Calls run as the caller: the portal's personal API token (Account page) is sent as a bearer
token. Where to find the portal and the token, first set wins:

  set_portal(url, token)  >  HPCAI_PORTAL_URL / HPCAI_API_TOKEN  >  http://127.0.0.1:8080

As in the reference, create/modify/delete handle only "numeric data - data file" datasets
(Category.numerical_file); get_* return any dataset the caller may see. Return values are the
reference's: dataset info as a dict (None when get_* finds nothing), True from delete_dataset.
Refusals raise DatasetError with the portal's message, naming the field.
"""

from __future__ import annotations

import enum
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import warnings
from typing import Any, Dict, List, Optional

from libaiflow.errors import LibaiflowError

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_S = 60.0
_settings: dict[str, str | None] = {"url": None, "token": None}


class Category(str, enum.Enum):
    """Dataset categories of the reference API; only numerical_file is supported there."""

    numerical_file = "numerical_file"


class DatasetError(LibaiflowError):
    """The portal refused the call; `field` names the input at fault."""

    def __init__(self, message: str, field: str | None = None, status: int | None = None):
        super().__init__(message)
        self.field, self.status = field, status


def set_portal(url: str | None = None, token: str | None = None) -> None:
    """Point the dataset API at a portal and a personal API token (overrides the environment)."""
    _settings["url"], _settings["token"] = url, token


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    base = (_settings["url"] or os.environ.get("HPCAI_PORTAL_URL") or DEFAULT_URL).rstrip("/")
    token = _settings["token"] or os.environ.get("HPCAI_API_TOKEN")
    if not token:
        raise DatasetError("no API token: create one on the portal's Account page, then call "
                           "libaiflow.set_portal(url, token) or set HPCAI_API_TOKEN", field="token")
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + "/api/v1" + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                                          **({"Content-Type": "application/json"} if data else {})})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        try:
            payload = json.loads(exc.read() or b"{}")
        except ValueError:
            payload = {}
        return exc.code, payload
    except (urllib.error.URLError, OSError) as exc:
        raise DatasetError(f"the portal at {base} cannot be reached: {getattr(exc, 'reason', exc)}",
                           field="url") from exc


def _raise(status: int, payload: Any) -> None:
    payload = payload if isinstance(payload, dict) else {}
    raise DatasetError(payload.get("text") or payload.get("error") or f"HTTP {status}", payload.get("field"), status)


def _numeric_file(category: Any) -> None:
    value = category.value if isinstance(category, enum.Enum) else category
    if value != Category.numerical_file.value:
        raise DatasetError(f"category {value!r} is not supported here; only Category.numerical_file is",
                           field="category")


def _get(ref: str) -> Optional[Dict[str, Any]]:
    if not ref:
        raise DatasetError("give a dataset name or id", field="dataset")
    status, payload = _call("GET", "/datasets/" + urllib.parse.quote(str(ref), safe=""))
    if status == 404:
        return None
    if status != 200:
        _raise(status, payload)
    return payload


def get_dataset_by_name(dataset_name: str) -> Optional[Dict[str, Any]]:
    """Dataset info as a dict, or None when no dataset of that name is visible to you."""
    return _get(dataset_name)


def get_dataset_by_id(dataset_id: str) -> Optional[Dict[str, Any]]:
    """Dataset info as a dict, or None when no such dataset is visible to you."""
    return _get(dataset_id)


def create_dataset(name: Optional[str], directory_path: Optional[str],
                   file_suffix: Optional[List[str]] = ["csv", "tsv"],  # noqa: B006 - the reference's signature
                   description: Optional[str] = "",
                   category: Optional[Category] = Category.numerical_file) -> Optional[Dict[str, Any]]:
    """Create a "numeric data - data file" dataset in My datasets; returns its info."""
    _numeric_file(category)
    body = {"name": name, "category": "numeric", "backend": "files", "directory": directory_path,
            "file_suffix": list(file_suffix or ["csv", "tsv"]), "description": description or ""}
    status, payload = _call("POST", "/datasets", body)
    if status != 201:
        _raise(status, payload)
    return payload


def modify_dataset(name: Optional[str], directory_path: Optional[str] = None,
                   file_suffix: Optional[List[str]] = ["csv", "tsv"],  # noqa: B006 - the reference's signature
                   description: Optional[str] = "",
                   category: Optional[Category] = Category.numerical_file,
                   **legacy: Any) -> Optional[Dict[str, Any]]:
    """Change the directory, suffixes or description of one of your numeric data-file datasets.

    The reference's example also passes separator/title/charset; the platform reads the
    separator from the suffix and expects UTF-8, so those are accepted and ignored with a warning.
    """
    _numeric_file(category)
    if legacy:
        warnings.warn(f"modify_dataset ignores {sorted(legacy)}: separators come from the file suffix "
                      "and files are read as UTF-8", stacklevel=2)
    body: dict[str, Any] = {"file_suffix": list(file_suffix or ["csv", "tsv"]), "description": description or ""}
    if directory_path:
        body["directory"] = directory_path
    current = _get(name or "")
    if current is None:
        raise DatasetError(f"no dataset '{name}'", field="name", status=404)
    if current.get("category") != "numeric" or current.get("backend") != "files":
        raise DatasetError(f"dataset '{name}' is not a numeric data-file dataset", field="category")
    status, payload = _call("PUT", "/datasets/" + urllib.parse.quote(current["id"], safe=""), body)
    if status != 200:
        _raise(status, payload)
    return payload


def delete_dataset(name: str = None) -> bool:  # type: ignore[assignment]  # the reference's signature
    """Delete one of your numeric data-file datasets (its files stay); True on success."""
    current = _get(name or "")
    if current is None:
        raise DatasetError(f"no dataset '{name}'", field="name", status=404)
    if current.get("category") != "numeric" or current.get("backend") != "files":
        raise DatasetError(f"dataset '{name}' is not a numeric data-file dataset", field="category")
    status, payload = _call("DELETE", "/datasets/" + urllib.parse.quote(current["id"], safe=""))
    if status != 204:
        _raise(status, payload)
    return True
