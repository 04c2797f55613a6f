"""The managed MLflow tracking server: settings from [tracking] of etc/hpcai.toml, a
health-checked start with a bounded wait, and the environment every job gets.

MLflow keeps its own database (never the platform's tables): SQLite in the data directory by
default, PostgreSQL at scale; artifacts go to a local directory, a shared filesystem or S3 and
are served through the tracking server (`--serve-artifacts`), so compute nodes need only HTTP.
The core runs MLflow as a separate process and talks to it over HTTP; it never imports mlflow.

The server runs MLflow's basic-auth app (core.trackingauth): each job signs in as its own user,
the platform as its admin. `[tracking] auth = false` turns that off, for a site whose MLflow is
reachable by nobody but the platform (every local user can reach a loopback port).
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from core import trackingauth
from core.config import Config
from core.errors import HpcaiError, ValidationError
from core.statefiles import private_file

DEFAULT_PORT = 5000


@dataclass(frozen=True)
class TrackingSettings:
    """Where the server keeps its data, where it listens, and the URI jobs are given."""

    backend_store_uri: str
    artifacts_destination: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    uri: str = ""  # what jobs and the portal use; default http://host:port
    workers: int = 1
    allowed_hosts: list[str] = field(default_factory=list)
    start_timeout_s: float = 90.0
    s3_endpoint_url: str = ""
    enabled: bool = True
    log_file: Path = Path()
    python: str = sys.executable
    auth: bool = True
    key_file: Path = Path()  # the site's tracking key (core.trackingauth), 0600
    auth_database_uri: str = ""  # MLflow's user and permission tables

    def credentials(self, user: str) -> tuple[str, str] | None:
        """(user, password) for the tracking server; None when auth is off or this process may
        not read the key (a CLI user on a root-owned site: the portal submits for them). The key
        is made here if it is missing, so a job submitted before the server's first start still
        signs in once the server is up."""
        if not self.auth or not user:
            return None
        try:  # a server elsewhere (`uri`) has its key there: never make one that cannot match
            key = trackingauth.read_key(self.key_file) if self.uri else trackingauth.ensure_key(self.key_file)
        except OSError:
            return None
        return (user, trackingauth.password(key, user)) if key else None

    def admin_headers(self) -> dict[str, str]:
        """What the platform's own requests carry (empty when auth is off)."""
        creds = self.credentials(trackingauth.ADMIN)
        return trackingauth.basic_auth_header(*creds) if creds else {}

    @property
    def url(self) -> str:
        if self.uri:
            return self.uri.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"


def settings_from_config(config: Config, environ: dict[str, str] | None = None) -> TrackingSettings:
    """[tracking] of the site configuration; HPCAI_MLFLOW_* variables override each key."""
    env = os.environ if environ is None else environ
    sec: dict[str, Any] = dict(config.raw.get("tracking", {}))
    base = config.data_dir / "mlflow"

    def get(key: str, default: Any) -> Any:
        return env.get(f"HPCAI_MLFLOW_{key.upper()}") or sec.get(key, default)

    backend = str(get("backend_store_uri", f"sqlite:///{base / 'mlflow.db'}"))
    artifacts = str(get("artifacts_destination", str(base / "artifacts")))
    if "://" not in artifacts:
        p = Path(os.path.expanduser(artifacts))
        artifacts = str(p if p.is_absolute() else config.home / p)
    if _same_database(backend, config.db_url):
        raise ValidationError("MLflow must have its own database, not the platform's",
                              field="tracking.backend_store_uri",
                              fix="give MLflow another database (e.g. sqlite:///var/mlflow/mlflow.db "
                                  "or postgresql+psycopg://user:pw@host/mlflow)")
    if backend.startswith("postgresql://"):
        # SQLAlchemy's bare postgresql:// means psycopg2, which hpcai does not install.
        backend = "postgresql+psycopg://" + backend[len("postgresql://"):]
    try:
        port = int(get("port", DEFAULT_PORT))
        workers = int(get("workers", 1))
        timeout = float(get("start_timeout_s", 90))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"not a number: {exc}", field="tracking",
                              fix="port, workers and start_timeout_s are numbers") from exc
    allowed = get("allowed_hosts", [])
    if isinstance(allowed, str):
        allowed = [h.strip() for h in allowed.split(",") if h.strip()]
    enabled = str(get("enabled", True)).lower() not in ("false", "0", "no")
    auth = str(get("auth", True)).lower() not in ("false", "0", "no")
    key_file = Path(os.path.expanduser(str(get("auth_key_file", base / "auth-key"))))
    auth_db = str(get("auth_database_uri", f"sqlite:///{base / 'auth.db'}"))
    if auth_db.startswith("postgresql://"):
        auth_db = "postgresql+psycopg://" + auth_db[len("postgresql://"):]
    return TrackingSettings(backend_store_uri=backend, artifacts_destination=artifacts,
                            host=str(get("host", "127.0.0.1")), port=port, uri=str(get("uri", "")),
                            workers=workers, allowed_hosts=list(allowed), start_timeout_s=timeout,
                            s3_endpoint_url=str(get("s3_endpoint_url", "")), enabled=enabled,
                            log_file=base / "server.log",
                            python=str(get("python", sys.executable)),
                            auth=auth, key_file=key_file, auth_database_uri=auth_db)


def _same_database(a: str, b: str) -> bool:
    def norm(u: str) -> str:
        scheme, _, rest = u.partition("://")
        return scheme.split("+")[0] + "://" + rest.rstrip("/")

    return bool(a and b) and norm(a) == norm(b)


def job_env(settings: TrackingSettings, user: str = "") -> dict[str, str]:
    """What a job needs to reach the tracking server (libaiflow and plain mlflow both read it).

    MLflow prints "View run ... at: <server URL>" for every run it ends: in a job log that is a
    link to the bare tracking server (past the portal's visibility rules; often not reachable
    from a browser at all) repeated once per trial of a study. The portal's job page links the
    job's experiment data instead, so jobs are told not to print it.
    """
    if not settings.enabled:
        return {}
    env = {"MLFLOW_TRACKING_URI": settings.url, "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
    if user == trackingauth.ADMIN:
        raise ValidationError(f"'{user}' is the platform's own tracking account", field="user",
                              fix="run the job as another user")
    creds = settings.credentials(user)
    if creds:  # the job's own user: it reads and writes that user's experiments only
        env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"] = creds
    return env


def server_argv(s: TrackingSettings) -> list[str]:
    argv = [s.python, "-m", "mlflow", "server",
            "--backend-store-uri", s.backend_store_uri,
            "--serve-artifacts", "--artifacts-destination", s.artifacts_destination,
            "--host", s.host, "--port", str(s.port), "--workers", str(s.workers)]
    if s.allowed_hosts:
        argv += ["--allowed-hosts", ",".join(s.allowed_hosts)]
    if s.auth:
        argv += ["--app-name", "basic-auth"]
    return argv


def _auth_env(s: TrackingSettings) -> dict[str, str]:
    """The basic-auth app's configuration: its ini (0600, it holds the admin password), the
    key for mlflow_app.authenticate and the CSRF secret, all derived from the site's key."""
    key = trackingauth.ensure_key(s.key_file)
    if s.auth_database_uri.startswith("sqlite:///"):
        private_file(Path(s.auth_database_uri[len("sqlite:///"):]))
    ini = private_file(s.log_file.parent / "basic_auth.ini")
    ini.write_text(trackingauth.auth_ini(s.auth_database_uri, trackingauth.password(key, trackingauth.ADMIN)))
    return {"MLFLOW_AUTH_CONFIG_PATH": str(ini), trackingauth.KEY_FILE_ENV: str(s.key_file),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": trackingauth.flask_secret(key)}


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """True when an MLflow server answers /health with OK."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as resp:
            return resp.status == 200 and resp.read(16).strip().upper().startswith(b"OK")
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1" if host in ("0.0.0.0", "") else host, port)) == 0


class ManagedServer:
    """An MLflow server process this hpcai process started (or found already running)."""

    def __init__(self, settings: TrackingSettings, proc: subprocess.Popen[bytes] | None):
        self.settings = settings
        self.proc = proc

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def owned(self) -> bool:
        return self.proc is not None

    def alive(self) -> bool:
        return self.proc is None or self.proc.poll() is None

    def stop(self, timeout: float = 8.0) -> None:
        """Stop the server's whole process group (uvicorn/gunicorn workers included)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass

    def wait(self) -> int:
        assert self.proc is not None
        return self.proc.wait()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_server(settings: TrackingSettings, wait_s: float | None = None,
                 reuse: bool = True, on_spawn: Callable[[ManagedServer], None] | None = None) -> ManagedServer:
    """Start MLflow and return once /health answers, or raise with the server's last words.

    With `reuse`, a healthy server already answering at the settings' URL is returned as is
    (so `hpcai serve` and `hpcai mlflow` can both call this). Never waits longer than `wait_s`.
    """
    wait_s = settings.start_timeout_s if wait_s is None else wait_s
    if reuse and is_healthy(settings.url):
        return ManagedServer(settings, None)
    if _port_taken(settings.host, settings.port):
        raise HpcaiError(f"port {settings.port} on {settings.host} is taken by something that is "
                         "not a healthy MLflow server", field="tracking.port",
                         fix="stop that program or choose another port in [tracking] of etc/hpcai.toml")
    if settings.backend_store_uri.startswith("sqlite:///"):  # experiments of everyone: 0600
        private_file(Path(settings.backend_store_uri[len("sqlite:///"):]))
    if "://" not in settings.artifacts_destination:
        Path(settings.artifacts_destination).mkdir(parents=True, exist_ok=True)
    settings.log_file.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    # MLflow 3's server-side jobs (GenAI scorers, prompt optimisation) run five huey consumers,
    # about 1.2 GB here, for features the platform does not offer: a site may turn them back on.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    if settings.s3_endpoint_url:
        env["MLFLOW_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    if settings.auth:
        env.update(_auth_env(settings))
    argv = server_argv(settings)
    with open(settings.log_file, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    server = ManagedServer(settings, proc)
    if on_spawn is not None:  # lets a caller stop a server still starting (hpcai serve's exit)
        on_spawn(server)
    deadline = time.monotonic() + wait_s
    delay = 0.25
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HpcaiError(f"the MLflow server exited with status {proc.returncode} while starting:\n"
                             f"{_tail(settings.log_file)}", field="tracking",
                             fix=f"see {settings.log_file}; check backend_store_uri and "
                                 "artifacts_destination in [tracking] of etc/hpcai.toml")
        if is_healthy(settings.url):
            return server
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)
    server.stop()
    raise HpcaiError(f"the MLflow server did not answer {settings.url}/health within {wait_s:.0f} s:\n"
                     f"{_tail(settings.log_file)}", field="tracking",
                     fix=f"see {settings.log_file}; raise [tracking] start_timeout_s on a slow machine")


def start_managed(config: Config, wait_s: float | None = None) -> ManagedServer | None:
    """What `hpcai serve` calls: the configured server, started (or found running); None when
    [tracking] enabled = false."""
    settings = settings_from_config(config)
    return start_server(settings, wait_s) if settings.enabled else None


def describe(settings: TrackingSettings) -> dict[str, Any]:
    """Settings as shown by `hpcai mlflow --show` (no secrets: passwords are masked)."""
    def mask(uri: str) -> str:
        scheme, sep, rest = uri.partition("://")
        if sep and "@" in rest:
            cred, _, host = rest.rpartition("@")
            user = cred.split(":")[0]
            return f"{scheme}://{user}:***@{host}"
        return uri

    return {"url": settings.url, "backend_store_uri": mask(settings.backend_store_uri),
            "artifacts_destination": settings.artifacts_destination, "host": settings.host,
            "port": settings.port, "workers": settings.workers, "log_file": str(settings.log_file),
            "enabled": settings.enabled, "auth": settings.auth, "healthy": is_healthy(settings.url)}

