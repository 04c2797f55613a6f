"""Who may use the tracking server: MLflow's basic-auth app, with passwords the platform derives.

Every platform user is an MLflow user of the same name. Their password is an HMAC of the site's
tracking key (a 0600 file of the platform's) and the name, so the platform stores none and gives
each job its own user's (MLFLOW_TRACKING_USERNAME / _PASSWORD), never another's. The platform
signs in as ADMIN. MLflow's default permission is NO_PERMISSIONS: a user reads and writes the
experiments they created (MLflow grants the creator MANAGE) and those the platform shares with
them. The user and permission APIs are the platform's alone (mlflow_app.authenticate), so a user's
MANAGE on an experiment proves they created it: the tags on it are only a claim.

Standard library only: the core talks to MLflow over HTTP and never imports mlflow.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

#: the platform's own MLflow account (an admin); no platform user may have this name
ADMIN = "hpcai-platform"
#: where the MLflow server process finds the key (set by core.tracking.start_server)
KEY_FILE_ENV = "HPCAI_MLFLOW_AUTH_KEY_FILE"


def ensure_key(path: Path) -> bytes:
    """The site's tracking key, made (32 random bytes, 0600) the first time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_key(path) or _unreadable(path)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return read_key(path) or _unreadable(path)


def read_key(path: Path) -> bytes | None:
    """The key, or None where this process may not read it (a CLI user on a root-owned site)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return text.encode() if text else None


def _unreadable(path: Path) -> bytes:
    raise PermissionError(f"the tracking key {path} is empty or unreadable")


def password(key: bytes, user: str) -> str:
    """The MLflow password of `user` (ADMIN included): stable while the key is."""
    return hmac.new(key, b"mlflow-user:" + user.encode(), hashlib.sha256).hexdigest()


def flask_secret(key: bytes) -> str:
    """MLflow's auth app signs its CSRF tokens with this (MLFLOW_FLASK_SERVER_SECRET_KEY)."""
    return hmac.new(key, b"mlflow-flask", hashlib.sha256).hexdigest()


def basic_auth_header(user: str, pw: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{pw}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def auth_ini(database_uri: str, admin_password: str) -> str:
    """basic_auth.ini of MLflow's auth app (MLFLOW_AUTH_CONFIG_PATH). The admin password is
    read only to create ADMIN on the first start; it is the derived one, so it never drifts."""
    return "\n".join([
        "[mlflow]",
        "default_permission = NO_PERMISSIONS",
        f"database_uri = {database_uri}",
        f"admin_username = {ADMIN}",
        f"admin_password = {admin_password}",
        "authorization_function = core.trackingauth.mlflow_app:authenticate",
        "grant_default_workspace_access = false",
        "",
    ])
