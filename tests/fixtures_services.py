"""Session fixtures for the real services the tests use (tests/services/*.sh).

Register them from tests/conftest.py with::

    pytest_plugins = ["tests.fixtures_services"]

scripts/test.sh starts the services and exports their URLs; when pytest is run
directly the fixtures start (and afterwards stop) the services themselves.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PG_SCRIPT = REPO_ROOT / "tests" / "services" / "postgres.sh"
PG_CTL = Path("/usr/lib/postgresql/15/bin/pg_ctl")
SLURM_SCRIPT = REPO_ROOT / "tests" / "services" / "slurm.sh"


def _pg(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(PG_SCRIPT), action],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a real PostgreSQL 15 database owned by role hpcai.

    postgresql+psycopg://hpcai:hpcai@127.0.0.1:55432/hpcai_test by default.
    """
    url = os.environ.get("HPCAI_TEST_PG_URL")
    if url:
        yield url
        return
    if not PG_CTL.exists():
        pytest.skip(
            f"PostgreSQL 15 is not installed ({PG_CTL} absent): "
            "run scripts/setup.sh, or scripts/test.sh"
        )
    was_running = _pg("status").returncode == 0
    started = _pg("start")
    if started.returncode != 0:
        pytest.fail(
            f"tests/services/postgres.sh start failed (exit {started.returncode}):\n"
            f"{started.stderr}",
            pytrace=False,
        )
    url = _pg("url").stdout.strip()
    try:
        yield url
    finally:
        if not was_running and os.environ.get("HPCAI_KEEP_SERVICES") != "1":
            _pg("stop")


def _slurm(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SLURM_SCRIPT), action], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def slurm_conf() -> Iterator[str]:
    """Path of slurm.conf of the private test cluster (tests/services/slurm.sh): nodes cpu1
    (partition debug, default) and gpu1 (partition gpu, 2 fake GPUs), partition all = both."""
    conf = os.environ.get("HPCAI_TEST_SLURM_CONF")
    if conf:
        yield conf
        return
    if os.getuid() != 0 or not Path("/usr/sbin/slurmctld").exists():
        pytest.skip("Slurm tests need root and Debian's slurmctld (run scripts/setup.sh, scripts/test.sh)")
    was_running = _slurm("status").returncode == 0
    started = _slurm("start")
    if started.returncode != 0:
        pytest.fail(f"tests/services/slurm.sh start failed:\n{started.stderr}", pytrace=False)
    try:
        yield _slurm("conf").stdout.strip()
    finally:
        if not was_running and os.environ.get("HPCAI_KEEP_SERVICES") != "1":
            _slurm("stop")


GE_SCRIPT = REPO_ROOT / "tests" / "services" / "gridengine.sh"


@pytest.fixture(scope="session")
def gridengine() -> Iterator[None]:
    """A running single-host Grid Engine (tests/services/gridengine.sh): queue all.q, PE smp."""
    if os.environ.get("HPCAI_TEST_GRIDENGINE") == "1":
        yield
        return
    if os.getuid() != 0 or not Path("/usr/sbin/sge_qmaster").exists():
        pytest.skip("Grid Engine tests need root and Debian's gridengine-master (scripts/setup.sh)")
    run = lambda action: subprocess.run(["bash", str(GE_SCRIPT), action], cwd=REPO_ROOT,  # noqa: E731
                                        capture_output=True, text=True, timeout=120)
    was_running = run("status").returncode == 0
    started = run("start")
    if started.returncode != 0:
        pytest.fail(f"tests/services/gridengine.sh start failed:\n{started.stderr}", pytrace=False)
    try:
        yield
    finally:
        if not was_running and os.environ.get("HPCAI_KEEP_SERVICES") != "1":
            run("stop")


@pytest.fixture
def fresh_pg_url(pg_url: str) -> Iterator[str]:
    """A brand-new, empty database on the test server, dropped afterwards."""
    import uuid

    import psycopg

    name = f"hpcai_t_{uuid.uuid4().hex[:12]}"
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _ = pg_url.rsplit("/", 1)
    try:
        yield f"{base}/{name}"
    finally:
        from core.store import db as store_db

        for url, store in list(store_db._stores.items()):
            if url.endswith("/" + name):
                store.engine.dispose()
                del store_db._stores[url]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


MARIADB_SCRIPT = REPO_ROOT / "tests" / "services" / "mariadb.sh"


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """mysql://hpcai:hpcai@127.0.0.1:<port>/hpcai_test of a real MariaDB (tests/services/mariadb.sh)."""
    url = os.environ.get("HPCAI_TEST_MARIADB_URL")
    if url:
        yield url
        return

    def run(action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(MARIADB_SCRIPT), action], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)

    if not Path("/usr/sbin/mariadbd").exists():
        pytest.skip("MariaDB is not installed (/usr/sbin/mariadbd absent): run scripts/setup.sh")
    was_running = run("status").returncode == 0
    started = run("start")
    if started.returncode != 0:
        pytest.fail(f"tests/services/mariadb.sh start failed:\n{started.stderr}", pytrace=False)
    try:
        yield run("url").stdout.strip()
    finally:
        if not was_running and os.environ.get("HPCAI_KEEP_SERVICES") != "1":
            run("stop")


# --- MLflow: one server per session, started the way a site starts it (`hpcai mlflow`) -------------

def scratch_dir(name: str) -> Path:
    base = Path(os.environ.get("HPCAI_TEST_SCRATCH") or REPO_ROOT / "var" / "test-scratch")
    path = base / f"{name}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[str]:
    """URL of a real MLflow server run by `hpcai mlflow` for the whole session."""
    from core.tracking import is_healthy

    data = scratch_dir("mlflow-server")
    port = free_port()
    env = {**os.environ, "HPCAI_DATA_DIR": str(data), "HPCAI_MLFLOW_PORT": str(port)}
    env.pop("HPCAI_MLFLOW_URI", None)
    log = open(data / "hpcai-mlflow.out", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "mlflow", "--wait", "150"], cwd=REPO_ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 160
    while not is_healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"`hpcai mlflow` did not come up:\n{(data / 'hpcai-mlflow.out').read_text()}",
                        pytrace=False)
        time.sleep(0.5)
    # The server authenticates (core.trackingauth): every platform of this session signs in with
    # its key, and mlflow in this process as the platform's admin (a job gets its own user's).
    from core import trackingauth

    key_file = data / "mlflow" / "auth-key"
    saved = {k: os.environ.get(k) for k in (trackingauth.KEY_FILE_ENV, "MLFLOW_TRACKING_USERNAME",
                                            "MLFLOW_TRACKING_PASSWORD")}
    os.environ.update({trackingauth.KEY_FILE_ENV: str(key_file), "MLFLOW_TRACKING_USERNAME": trackingauth.ADMIN,
                       "MLFLOW_TRACKING_PASSWORD": trackingauth.password(trackingauth.read_key(key_file) or b"",
                                                                         trackingauth.ADMIN)})
    try:
        yield url
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.send_signal(signal.SIGTERM)  # hpcai mlflow stops the server it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
