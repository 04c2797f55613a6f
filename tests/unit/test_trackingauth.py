"""The tracking server's authentication settings (core.trackingauth, core.tracking): derived
passwords, the basic-auth app's ini, what a job is given. The server side runs for real in
tests/isolation/test_tracking_auth.py and every tracking test."""

from __future__ import annotations

import configparser
from dataclasses import replace
from pathlib import Path

import pytest

from core import trackingauth
from core.config import load_config
from core.errors import ValidationError
from core.tracking import job_env, server_argv, settings_from_config


def _settings(tmp_path: Path, **env: str):  # type: ignore[no-untyped-def]
    return settings_from_config(load_config({"HPCAI_DATA_DIR": str(tmp_path)}), env)


def test_passwords_are_per_user_per_key_and_stable(tmp_path: Path) -> None:
    key = trackingauth.ensure_key(tmp_path / "k")
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    assert trackingauth.ensure_key(tmp_path / "k") == key  # made once, then read
    other = trackingauth.ensure_key(tmp_path / "k2")
    pw = trackingauth.password(key, "alice")
    assert pw == trackingauth.password(key, "alice") and len(pw) == 64
    assert pw != trackingauth.password(key, "bob") and pw != trackingauth.password(other, "alice")
    assert trackingauth.flask_secret(key) not in (pw, trackingauth.password(key, trackingauth.ADMIN))


def test_the_ini_denies_by_default_and_names_the_platforms_check(tmp_path: Path) -> None:
    ini = configparser.ConfigParser()
    ini.read_string(trackingauth.auth_ini("sqlite:////x/auth.db", "pw"))
    sec = ini["mlflow"]
    assert sec["default_permission"] == "NO_PERMISSIONS"
    assert sec["authorization_function"] == "core.trackingauth.mlflow_app:authenticate"
    assert (sec["admin_username"], sec["admin_password"], sec["database_uri"]) == (trackingauth.ADMIN, "pw",
                                                                                   "sqlite:////x/auth.db")


def test_a_job_gets_its_own_users_credentials_and_the_server_the_auth_app(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert s.auth and s.key_file == tmp_path / "mlflow" / "auth-key"
    assert s.auth_database_uri == f"sqlite:///{tmp_path / 'mlflow' / 'auth.db'}"
    env = job_env(s, "alice")
    key = trackingauth.read_key(s.key_file)
    assert key and env["MLFLOW_TRACKING_USERNAME"] == "alice"
    assert env["MLFLOW_TRACKING_PASSWORD"] == trackingauth.password(key, "alice")
    assert s.admin_headers()["Authorization"].startswith("Basic ")
    assert server_argv(s)[-2:] == ["--app-name", "basic-auth"]
    with pytest.raises(ValidationError) as err:  # nobody's job signs in as the platform
        job_env(s, trackingauth.ADMIN)
    assert err.value.field == "user"


def test_auth_off_gives_no_credentials_and_plain_server(tmp_path: Path) -> None:
    s = _settings(tmp_path, HPCAI_MLFLOW_AUTH="false")
    assert not s.auth and s.credentials("alice") is None and s.admin_headers() == {}
    assert "MLFLOW_TRACKING_USERNAME" not in job_env(s, "alice")
    assert "--app-name" not in server_argv(s)
    # a key that cannot be made (a CLI user on a site not theirs) means no credentials, no error
    blocked = replace(_settings(tmp_path), key_file=tmp_path / "file" / "auth-key")
    (tmp_path / "file").write_text("not a directory")
    assert blocked.credentials("alice") is None
