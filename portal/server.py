"""`hpcai serve`: the portal under gunicorn (gthread workers) plus exactly one scheduler watcher.

Why gunicorn: the service proxy must hand a client's socket over to a WebSocket tunnel, and a
gthread worker exposes it as environ['gunicorn.socket'] (waitress cannot). Each worker process
builds its own Platform after the fork; the master only migrates, seeds and syncs first.

One watcher per data directory, whatever the number of workers (or of `hpcai serve` processes
on it): every worker waits on an flock of <data>/watcher.lock and the holder runs the Watcher;
when it exits the lock passes to another worker. Pokes from the other workers reach the holder
as datagrams on an abstract Unix socket named after the data directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import socket
import struct
import sys
import threading
from typing import Any

from core.errors import HpcaiError
from core.jobsread import watcher_lock
from core.platform import Platform
from core.watcher import Watcher
from portal.front import FRONT_SECRET_ENV, NginxFront, nginx_binary

DEFAULT_THREADS = 64  # per worker; an open log stream or WebSocket holds one each
# One process by default: some state is cached per process for a second (site settings) and a
# page right after an admin's switch must see it. --workers N spreads the portal over N cores.
DEFAULT_WORKERS = 1
POLL_S = 1.0  # how often a waiting worker tries the watcher lock (and the holder checks for stop)


CREDENTIALS = struct.Struct("iII")  # struct ucred: pid, uid, gid (SCM_CREDENTIALS)


def _sender_uid(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= CREDENTIALS.size:
            return CREDENTIALS.unpack(data[:CREDENTIALS.size])[1]
    return None


def seed_admin(platform: Platform) -> None:
    """First start: create `admin` (password from HPCAI_ADMIN_PASSWORD, else printed once)."""
    generated = platform.accounts.seed_admin(os.environ.get("HPCAI_ADMIN_PASSWORD") or None)
    if generated:
        print(f"hpcai serve: created administrator 'admin' with password: {generated}\n"
              "hpcai serve: it is shown only now; change it under Account.", file=sys.stderr, flush=True)


class SharedWatcher:
    """The one watcher of a data directory, elected among processes by an flock."""

    def __init__(self, platform: Platform, **watcher_args: float):
        self.p = platform
        data = platform.config.data_dir
        data.mkdir(parents=True, exist_ok=True)
        self.lock_path = watcher_lock(data)  # `hpcai jobs` reads the store directly while it is held
        # Abstract namespace (Linux): no file to clean up, no path-length limit.
        self.address = "\0hpcai-watcher-" + hashlib.sha256(str(data.resolve()).encode()).hexdigest()[:24]
        self.watcher: Watcher | None = None
        self._watcher_args = watcher_args
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sender.setblocking(False)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "SharedWatcher":
        self._thread = threading.Thread(target=self._run, name="hpcai-watcher-election", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while not self._stopped.is_set():  # wait for the holder (another worker) to go
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    self._stopped.wait(POLL_S)
            else:
                return
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for people (and tests)
            self.watcher = Watcher(self.p, **self._watcher_args).start()
            self._listen()
        finally:
            os.close(fd)  # releases the lock: another worker takes over

    def _listen(self) -> None:
        """Pokes from the other workers; the name may still be bound by a holder that just died."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
            listener.settimeout(POLL_S)
            # An abstract name has no file mode: any local user could send to it. The kernel
            # attaches each sender's credentials; pokes count only from this platform's user.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            bound = False
            while not self._stopped.is_set():
                if not bound:
                    try:
                        listener.bind(self.address)
                        bound = True
                    except OSError:
                        self._stopped.wait(POLL_S)
                        continue
                try:
                    _data, ancillary, _flags, _addr = listener.recvmsg(16, socket.CMSG_SPACE(CREDENTIALS.size))
                except (socket.timeout, BlockingIOError):
                    continue
                if self.watcher is not None and _sender_uid(ancillary) == os.geteuid():
                    self.watcher.poke()

    def poke(self) -> None:
        if self.watcher is not None:
            self.watcher.poke()
            return
        try:
            self._sender.sendto(b"poke", self.address)
        except OSError:  # no holder right now: the next cycle comes anyway
            pass

    def stop(self) -> None:
        self._stopped.set()
        watcher, self.watcher = self.watcher, None
        if watcher is not None:
            watcher.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _gunicorn_app(options: dict[str, Any], watch: bool, front: NginxFront | None = None) -> Any:
    from gunicorn.app.base import BaseApplication

    class PortalApplication(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            """In each worker, after the fork: its own engine, app and watcher candidate."""
            from portal import create_app

            platform = Platform()
            watcher = SharedWatcher(platform).start() if watch else None
            _state["watcher"] = watcher
            app = create_app(platform, watcher=watcher)
            if front is not None:  # one worker (elected) keeps nginx's list of services current
                _state["front"] = front.follow(platform.services.proxy_targets)
                # every request comes from nginx: the client's address is the one nginx sets
                # (it replaces any X-Forwarded-For the client sent), so per-address log-in
                # throttling still sees clients, not 127.0.0.1
                from werkzeug.middleware.proxy_fix import ProxyFix

                app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
            return app

    return PortalApplication()


_state: dict[str, Any] = {}


def _worker_exit(server: Any, worker: Any) -> None:
    watcher = _state.get("watcher")
    if watcher is not None:
        watcher.stop()
    if _state.get("front") is not None:
        _state["front"]._stopped.set()


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TrackingStarter:
    """The managed MLflow server of `hpcai serve`: started in the background (it takes 12-24 s,
    the portal answers meanwhile and says so), stopped with the portal. Only when [tracking] is
    enabled and no external `uri` is set; a healthy server already there is used, not owned."""

    def __init__(self, platform: Platform):
        from core import tracking

        self.settings = tracking.settings_from_config(platform.config)
        self.server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def wanted(self) -> bool:
        return self.settings.enabled and not self.settings.uri

    def start(self) -> "TrackingStarter":
        if self.wanted:
            self._thread = threading.Thread(target=self._run, name="hpcai-mlflow-start", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        from core import tracking
        from core.errors import HpcaiError

        try:
            self.server = tracking.start_server(self.settings, on_spawn=self._spawned)
        except HpcaiError as exc:
            print(f"hpcai serve: experiment tracking is off: {exc.text}", file=sys.stderr, flush=True)
            return
        how = "started" if self.server.owned else "already running"
        print(f"hpcai serve: MLflow tracking server {how} at {self.server.url} "
              f"(log {self.settings.log_file})", file=sys.stderr, flush=True)

    def _spawned(self, server: Any) -> None:
        self.server = server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()  # a no-op for a server this process did not start (or still starting)
        if self._thread is not None:
            self._thread.join(timeout=5)


def serve(host: str = "127.0.0.1", port: int = 8080, threads: int = DEFAULT_THREADS, watch: bool = True,
          workers: int = DEFAULT_WORKERS, mlflow: bool = True, front: str = "none") -> int:
    platform = Platform()
    platform.store.migrate()
    seed_admin(platform)
    platform.specs.sync()
    platform.store.engine.dispose()  # no pooled connection may cross the fork
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    # where the platform's own clients (an environment's jsub, cli/remote.py) reach this portal,
    # unless [portal] url says otherwise (core.platform.Platform.portal_url); the workers inherit it
    reach = socket.gethostname() if host in ("0.0.0.0", "::", "") else host  # every interface: by name
    os.environ["HPCAI_PORTAL_LISTEN"] = f"http://[{reach}]:{port}" if ":" in reach else f"http://{reach}:{port}"
    nginx: NginxFront | None = None
    bind = listen
    if front == "nginx":  # nginx takes the public address; gunicorn a private loopback port behind it
        if nginx_binary() is None:
            raise HpcaiError("--front nginx needs nginx", field="front",
                             fix="install it (scripts/setup.sh does: apt-get install nginx) or omit --front")
        os.environ.setdefault(FRONT_SECRET_ENV, secrets.token_urlsafe(32))  # the workers inherit it
        bind = f"127.0.0.1:{_free_loopback_port()}"
        decision_s = float(platform.config.raw.get("services", {}).get("front_decision_s", 2))
        nginx = NginxFront(platform.config.data_dir, listen, bind, decision_s)
    elif front != "none":
        raise HpcaiError(f"unknown front '{front}'", field="front", fix="use none or nginx")
    print(f"hpcai serve: portal on http://{host}:{port}/ (data {platform.config.data_dir}; "
          f"{workers} workers x {threads} threads" + (f"; nginx in front, portal on {bind}" if nginx else "") + ")",
          file=sys.stderr, flush=True)
    hooks: dict[str, Any] = {}
    if nginx is not None:
        hooks = {"when_ready": lambda server: nginx.start(), "on_exit": lambda server: nginx.stop()}
    app = _gunicorn_app({
        "bind": [bind],
        "workers": workers, "worker_class": "gthread", "threads": threads,
        # A gthread worker queues the connections it accepted beyond its free threads, and an
        # open log stream or WebSocket keeps its thread: so a worker takes no more connections
        # than it has threads (no keep-alive: an idle one would hold a slot) and a worker whose
        # threads all follow streams leaves new clients to the others instead of starving them.
        "worker_connections": threads, "keepalive": 0,
        "graceful_timeout": 10, "timeout": 60,
        "limit_request_line": 8190,  # proxied services' long query strings (gunicorn's default: 4094)
        "proc_name": "hpcai-portal", "accesslog": None, "errorlog": "-", "loglevel": "warning",
        "forwarded_allow_ips": "",  # no proxy is trusted to set the scheme (as before)
        "worker_exit": _worker_exit,
        **hooks,
    }, watch, nginx)
    starter = TrackingStarter(platform)
    if mlflow:
        starter.start()
    try:
        app.run()  # returns or raises SystemExit when gunicorn's master stops (SIGTERM, SIGINT)
    finally:
        starter.stop()
    return 0
