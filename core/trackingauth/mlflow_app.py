"""Runs inside the MLflow server, which imports it by the name in basic_auth.ini: MLflow's
pluggable `authorization_function` of its basic-auth app.

A request signs in with a platform user's derived password (an HMAC compare: no PBKDF2 per
request, as MLflow's own check costs). A user signing in for the first time is added to MLflow's
user table, where its permission checks look users up. The endpoints that manage users,
permissions and roles answer the platform alone: a user who could grant permissions could hand
another user MANAGE and make the creator's MANAGE prove nothing.
"""

from __future__ import annotations

import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

from flask import Response, make_response, request
from mlflow.server import auth as mlflow_auth
from werkzeug.datastructures import Authorization

from core.trackingauth import ADMIN, KEY_FILE_ENV, password, read_key

#: path parts of the endpoints only the platform may call (REST and ajax, v2 and v3)
PLATFORM_ONLY = ("/mlflow/users/", "/permissions/", "/mlflow/roles/", "/signup", "/mlflow/workspaces")


@lru_cache(maxsize=1)
def _key() -> bytes:
    key = read_key(Path(os.environ.get(KEY_FILE_ENV, "")))
    if key is None:
        raise RuntimeError(f"{KEY_FILE_ENV} does not name a readable tracking key")
    return key


def _forbidden(message: str) -> Response:
    return make_response({"error_code": "PERMISSION_DENIED", "message": message}, 403)


def authenticate() -> Authorization | Response:
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or not auth.password:
        return mlflow_auth.make_basic_auth_response()
    if not hmac.compare_digest(auth.password, password(_key(), auth.username)):
        return mlflow_auth.make_basic_auth_response()
    if auth.username == ADMIN:
        return auth
    if any(part in request.path for part in PLATFORM_ONLY):
        return _forbidden("users, permissions and sharing are managed by the platform: share an "
                          "experiment from the portal's experiment page")
    _ensure_user(auth.username)
    return auth


_known_users: set[str] = set()  # in this worker: a user's row exists (rows are never removed)


def _ensure_user(username: str) -> None:
    if username in _known_users:
        return
    store = mlflow_auth.store
    if not store.has_user(username):
        try:  # its stored password is never used: authenticate() checks the derived one
            store.create_user(username, secrets.token_urlsafe(32))
        except Exception:  # another worker added it first
            if not store.has_user(username):
                raise
    _known_users.add(username)
