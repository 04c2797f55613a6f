"""The managed tracking server: `hpcai mlflow`, and the scale-out setup (PostgreSQL store and a
shared-filesystem artifact directory) with MLflow in its own database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.config import load_config
from core.tracking import is_healthy, settings_from_config, start_server
from tests.tracking import rest
from tests.tracking.conftest import REPO_ROOT, free_port, scratch_dir

pytestmark = pytest.mark.integration


def test_hpcai_mlflow_status_and_reuse(mlflow_server: str) -> None:
    port = mlflow_server.rsplit(":", 1)[1]
    env = {**os.environ, "HPCAI_MLFLOW_PORT": port, "HPCAI_DATA_DIR": str(scratch_dir("status"))}
    out = subprocess.run([sys.executable, "-m", "cli.main", "mlflow", "--status"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["healthy"] is True
    # A second `hpcai mlflow` (or `hpcai serve`) finds the healthy server and starts none.
    out = subprocess.run([sys.executable, "-m", "cli.main", "mlflow"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and f"already running at {mlflow_server}" in out.stdout


def test_port_taken_by_something_else() -> None:
    import socket

    from core.errors import HpcaiError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        env = {"HPCAI_MLFLOW_PORT": str(sock.getsockname()[1])}
        s = settings_from_config(load_config({"HPCAI_DATA_DIR": str(scratch_dir("taken"))}), env)
        with pytest.raises(HpcaiError, match="not a healthy MLflow server") as err:
            start_server(s, wait_s=5)
    assert err.value.field == "tracking.port"


@pytest.mark.slow
def test_postgresql_store_and_shared_artifacts(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg
    from mlflow.tracking import MlflowClient

    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    db = "hpcai_mlflow_test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {db}")
        conn.execute(f"DROP DATABASE IF EXISTS {db}_auth WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {db}_auth")
    mlflow_db = admin.rsplit("/", 1)[0] + "/" + db
    shared = scratch_dir("shared-fs") / "mlflow-artifacts"
    data = scratch_dir("pg-mlflow")
    env = {"HPCAI_MLFLOW_BACKEND_STORE_URI": mlflow_db,  # plain postgresql:// as an admin writes it
           "HPCAI_MLFLOW_AUTH_DATABASE_URI": mlflow_db + "_auth",  # users and permissions too
           "HPCAI_MLFLOW_AUTH_KEY_FILE": str(data / "mlflow" / "auth-key"),
           "HPCAI_MLFLOW_ARTIFACTS_DESTINATION": str(shared), "HPCAI_MLFLOW_PORT": str(free_port())}
    config = load_config({"HPCAI_DATA_DIR": str(data), "HPCAI_DB_URL": pg_url})
    settings = settings_from_config(config, env)
    server = start_server(settings, wait_s=150)
    try:
        assert server.owned and is_healthy(server.url)
        user, password = settings.credentials("alice") or ("", "")
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        client = MlflowClient(tracking_uri=server.url)
        exp_id = client.create_experiment("on_postgresql")
        run_id = client.create_run(exp_id).info.run_id
        client.log_metric(run_id, "loss", 0.5, step=3)
        client.log_text(run_id, "hello", "notes/hello.txt")
        client.set_terminated(run_id)
        assert rest.history(server.url, run_id, "loss") == [(3, 0.5)]
        assert rest.download(server.url, run_id, "notes/hello.txt") == b"hello"
        # The artifact landed in the shared directory; MLflow's tables are in its own database.
        assert list(shared.rglob("hello.txt"))
        with psycopg.connect(mlflow_db) as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM experiments")}
        assert "on_postgresql" in names
        # alice signed in and holds what she made; the permissions live in the PostgreSQL database
        from core.trackingclient import TrackingClient

        platform_client = TrackingClient.for_settings(settings)
        assert platform_client.permission(exp_id, "alice") == "MANAGE"
        assert platform_client.permission(exp_id, "bob") == "NO_PERMISSIONS"
        with psycopg.connect(mlflow_db + "_auth") as conn:
            assert "alice" in {r[0] for r in conn.execute("SELECT username FROM users")}
        with psycopg.connect(admin) as conn:
            platform_tables = {r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
        assert "experiments" not in platform_tables and "metrics" not in platform_tables
    finally:
        server.stop()
    assert not is_healthy(server.url)
