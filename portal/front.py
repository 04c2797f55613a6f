"""nginx in front of the portal: the service proxy's scale-out data path (`hpcai serve --front nginx`).

The embedded proxy (portal/services/proxy.py) moves every byte through Python. With the front,
nginx listens on the portal's address, sends the portal's own pages to gunicorn (on a private
loopback port) and serves `/dockerService/<alias>/` of every running service itself:

- each request is checked by `auth_request` against the portal's `/_hpcai/authz` (the same
  `proxy_access` as the embedded proxy: session or service-origin cookie, sharing, API key);
  the decision is cached per credential, service and target for `[services]
  front_decision_s` seconds (default 2): a revoked user or key stops within that time;
- anything the check does not grant (no session yet, the hand-off to the service's origin,
  an unshared user, a stopped service) falls back to the embedded proxy, which answers as it
  always does (login redirect, hand-off, 403/503 with a JSON body);
- nginx forwards to the target the store names, keeps connections to it alive, presents the
  per-instance proof (core.svcauth.front_proof) to svcrun's gate, never the visitor's
  Authorization or the portal's cookies, and passes WebSocket upgrades through.

One worker process (elected by an flock, like the watcher) rewrites the configuration when
the set of running services changes and reloads nginx (graceful: open connections finish on
the old workers). The configuration holds the proofs, so its files are 0600 in `<data_dir>/nginx/`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from core import svcauth
from core.services import PROXY_PREFIX, ProxyEntry

FRONT_SECRET_ENV = "HPCAI_FRONT_SECRET"  # nginx -> portal: only nginx may ask /_hpcai/authz
FRONT_HEADER = "X-Hpcai-Front"
POLL_S = 1.0
COMMAND_TIMEOUT_S = 30
UPSTREAM_TIMEOUT_S = 300
#: one cached decision per credential (either cookie, the API key), service, target and origin
DECISION_KEY = '"$http_host|$svc_alias|$svc_target|$cookie_hpcai_svc|$cookie_hpcai_session|$http_authorization"'
STREAM_TIMEOUT_S = 3600  # an idle WebSocket (an IDE, a desktop) stays open this long


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


def _q(value: str) -> str:
    """A value as an nginx string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "${dollar}") + '"'


def _upstream_name(alias: str) -> str:
    return "svc_" + hashlib.sha256(alias.encode()).hexdigest()[:16]


def _redirects(e: ProxyEntry, prefix: str) -> list[str]:
    """proxy_redirect lines with the embedded proxy's rule (portal/services/proxy.py _rewrite_location)."""
    r = e.rules
    if not r.rewrite_redirects:
        return ["proxy_redirect off;"]
    me = "(?:https?://(?:%s|127\\.0\\.0\\.1|localhost):%d)?" % (re.escape(e.host), e.port)
    lines = [f"proxy_redirect ~^{me}({re.escape(prefix)}(?:/.*)?)$ $1;"]
    if r.strip_prefix:
        lines.append(f"proxy_redirect ~^{me}{re.escape(r.upstream_prefix)}(/.*)?$ {prefix}$1;")
    return lines


def _location(e: ProxyEntry) -> str:
    prefix = f"{PROXY_PREFIX}/{e.alias}"
    r = e.rules
    target = f"http://{_upstream_name(e.alias)}"
    if r.strip_prefix:  # nginx replaces the location's prefix by the URI given here
        target += (r.upstream_prefix.rstrip("/") + "/") if r.upstream_prefix else "/"
    lines = [
        f"location ^~ {prefix}/ {{",
        f"    set $svc_alias {_q(e.alias)};",
        f"    set $svc_target {_q(f'{e.host}:{e.port}')};",
        "    auth_request /_hpcai/authz;",
        "    error_page 401 403 = @portal;",
        f"    proxy_pass {target};",
        *("    " + line for line in _redirects(e, prefix)),
        f"    proxy_set_header Host {_q(f'{e.host}:{e.port}')};",
        f"    proxy_set_header {svcauth.HEADER} {_q(svcauth.front_proof(e.secret))};",
        f"    proxy_set_header X-Forwarded-Prefix {_q(prefix)};",
    ]
    # before service_common.conf's `Cookie $svc_cookie`: a Cookie here (code-server's session) is
    # the first of the two Cookie lines, and a server's cookie parser keeps a name's first value
    for k, v in r.secret_headers.items():
        lines.append(f"    proxy_set_header {k} {_q(v.replace('{secret}', e.secret))};")
    for i, (k, v) in enumerate(r.request_headers.items()):  # added when the visitor sent none
        var = f"$svc_h{i}"
        header_var = "$http_" + re.sub(r"[^a-z0-9]", "_", k.lower())
        lines += [f"    set {var} {header_var};", f"    if ({var} = \"\") {{ set {var} {_q(v)}; }}",
                  f"    proxy_set_header {k} {var};"]
    if r.rewrite_cookie_path:
        lines.append(f"    proxy_cookie_path ~^(?!{re.escape(prefix)})(/.*)$ {prefix}$1;")
    lines += ["    include service_common.conf;", "}"]
    return "\n".join(lines)


COMMON = """# included by every service location (portal/front.py)
proxy_http_version 1.1;
proxy_set_header Upgrade $http_upgrade;
proxy_set_header Connection $svc_connection;
proxy_set_header Authorization "";
proxy_set_header Cookie $svc_cookie;
proxy_set_header X-Forwarded-For $remote_addr;
proxy_set_header X-Forwarded-Host $http_host;
proxy_set_header X-Forwarded-Proto $scheme;
proxy_cookie_domain ~.+ $host;
proxy_request_buffering off;
proxy_buffering off;
proxy_read_timeout %(stream)ds;
proxy_send_timeout %(upstream)ds;
add_header Content-Security-Policy $svc_sandbox always;
add_header X-Hpcai-Proxy front always;  # which path answered (the embedded proxy sends none)
""" % {"stream": STREAM_TIMEOUT_S, "upstream": UPSTREAM_TIMEOUT_S}


def render(listen: str, portal: str, entries: list[ProxyEntry], front_secret: str, prefix: Path,
           decision_s: float, worker_user: str | None, service_host_re: str, runtime: Path) -> dict[str, str]:
    """The configuration files (name -> text): nginx.conf, services.conf, service_common.conf."""
    upstreams = "\n".join(f"upstream {_upstream_name(e.alias)} {{ server {e.host}:{e.port}; keepalive 32; }}"
                          for e in entries)
    locations = "\n\n".join(_location(e) for e in entries)
    user = f"user {worker_user};" if worker_user else ""
    main = f"""# written by hpcai serve --front nginx (portal/front.py); rewritten when services start and stop
{user}
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {runtime}/body;
    proxy_temp_path {runtime}/proxy;
    fastcgi_temp_path {runtime}/fastcgi;
    uwsgi_temp_path {runtime}/uwsgi;
    scgi_temp_path {runtime}/scgi;
    proxy_cache_path {runtime}/cache keys_zone=hpcai_authz:4m max_size=64m inactive=60s;
    client_max_body_size 0;
    server_tokens off;
    absolute_redirect off;  # redirects stay relative, as the embedded proxy leaves them
    geo $dollar {{ default "$"; }}
    map $http_upgrade $svc_connection {{ default upgrade; "" ""; }}
    # the portal's cookies never reach a service
    map $http_cookie $svc_cookie_a {{ "~^(?<a>.*?)(?:;\\s*)?hpcai_session=[^;]*(?<b>.*)$" $a$b; default $http_cookie; }}
    map $svc_cookie_a $svc_cookie {{ "~^(?<a>.*?)(?:;\\s*)?hpcai_svc=[^;]*(?<b>.*)$" $a$b; default $svc_cookie_a; }}
    # answers on the portal's own origin (API-key clients) run no script as the portal
    map $http_host $svc_sandbox {{ "~{service_host_re}" ""; default "sandbox"; }}
    upstream hpcai_portal {{ server {portal}; }}
{upstreams}
    server {{
        listen {listen};
        server_name _;
        # declares the per-service variables for the authz location (a server-level `set` would
        # run again in the auth subrequest and clear the values the service's location set)
        location = /_hpcai/declare {{ internal; set $svc_alias ""; set $svc_target ""; return 404; }}
        location / {{
            proxy_pass http://hpcai_portal;
            include portal_common.conf;
        }}
        location @portal {{
            proxy_pass http://hpcai_portal;
            include portal_common.conf;
        }}
        location = /_hpcai/authz {{
            internal;
            proxy_pass http://hpcai_portal/_hpcai/authz;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Host $http_host;
            proxy_set_header {FRONT_HEADER} {_q(front_secret)};
            proxy_set_header X-Hpcai-Alias $svc_alias;
            proxy_set_header X-Hpcai-Target $svc_target;
            proxy_cache hpcai_authz;
            proxy_cache_key {DECISION_KEY};
            proxy_cache_valid 200 {max(0, int(decision_s))}s;
            proxy_ignore_headers Cache-Control Expires Set-Cookie Vary X-Accel-Expires;
        }}
        include services.conf;
    }}
}}
"""
    portal_common = f"""# the portal's own pages and the embedded proxy (fallback), through gunicorn
proxy_http_version 1.1;
proxy_set_header Host $http_host;
proxy_set_header Upgrade $http_upgrade;
proxy_set_header Connection $svc_connection;
proxy_set_header X-Forwarded-For $remote_addr;
proxy_set_header X-Forwarded-Proto $scheme;
proxy_request_buffering off;
proxy_buffering off;
proxy_read_timeout {STREAM_TIMEOUT_S}s;
"""
    return {"nginx.conf": main, "services.conf": (locations + "\n") if locations else "# no running service\n",
            "service_common.conf": COMMON, "portal_common.conf": portal_common}


class NginxFront:
    """The nginx process of one `hpcai serve`, and the writer of its configuration."""

    def __init__(self, data_dir: Path, listen: str, portal: str, decision_s: float = 2.0):
        self.prefix = data_dir / "nginx"
        self.listen, self.portal, self.decision_s = listen, portal, decision_s
        self.conf = self.prefix / "nginx.conf"
        self.proc: subprocess.Popen[bytes] | None = None
        self.secret = os.environ.get(FRONT_SECRET_ENV, "")
        self._fingerprint: str | None = None
        self._stopped = threading.Event()
        # What nginx's workers write (request bodies, cached decisions): a private directory of
        # their own, outside the data directory (the platform's alone, not theirs to enter).
        self.runtime = Path(tempfile.mkdtemp(prefix="hpcai-nginx-"))
        user = self._worker_user()
        if user:
            pw = pwd.getpwnam(user)
            os.chown(self.runtime, pw.pw_uid, pw.pw_gid)

    def _worker_user(self) -> str | None:
        if os.geteuid() != 0:
            return None  # workers run as the serving user
        for name in ("www-data", "nobody"):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        return None

    def write(self, entries: list[ProxyEntry], service_host_re: str = r"\.svc\.localhost(:\d+)?$") -> bool:
        """Write the configuration for these services; False when nothing changed."""
        files = render(self.listen, self.portal, entries, self.secret, self.prefix, self.decision_s,
                       self._worker_user(), service_host_re, self.runtime)
        fingerprint = hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()
        if fingerprint == self._fingerprint:
            return False
        self.prefix.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name, text in files.items():
            tmp = self.prefix / f".{name}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            tmp.replace(self.prefix / name)
        self._fingerprint = fingerprint
        return True

    def _nginx(self, *args: str) -> subprocess.CompletedProcess[str]:
        binary = nginx_binary()
        assert binary is not None
        return subprocess.run([binary, "-p", str(self.prefix), "-c", str(self.conf), *args],
                              capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)

    def start(self) -> None:
        """In `hpcai serve`'s master: the first configuration (no services yet) and nginx itself."""
        self.write([])
        check = self._nginx("-t")
        if check.returncode != 0:
            raise RuntimeError(f"nginx refuses its configuration: {check.stderr.strip()}")
        binary = nginx_binary()
        assert binary is not None
        log = open(self.prefix / "nginx.out", "ab")
        self.proc = subprocess.Popen([binary, "-p", str(self.prefix), "-c", str(self.conf), "-g", "daemon off;"],
                                     stdout=log, stderr=log, start_new_session=True)

    def reload(self) -> None:
        if self._stopped.is_set():
            return
        check = self._nginx("-t")
        if check.returncode != 0:
            print(f"hpcai serve: nginx refused the new configuration, keeping the old: {check.stderr.strip()}",
                  file=sys.stderr, flush=True)
            return
        done = self._nginx("-s", "reload")
        if done.returncode != 0:
            print(f"hpcai serve: nginx reload failed: {done.stderr.strip()}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        self._stopped.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.runtime, ignore_errors=True)

    # --- in the workers: one of them keeps the configuration current ------------------------------

    def follow(self, targets: Any) -> "NginxFront":
        """Start the elected updater: `targets()` -> the running services' ProxyEntry list."""
        threading.Thread(target=self._follow, args=(targets,), name="hpcai-front", daemon=True).start()
        return self

    def _follow(self, targets: Any) -> None:
        self.prefix.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.prefix / "updater.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while not self._stopped.is_set():
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    self._stopped.wait(POLL_S)
            while not self._stopped.is_set():
                try:
                    if self.write(targets()):
                        self.reload()
                except Exception as exc:  # the next round tries again; the embedded proxy serves meanwhile
                    print(f"hpcai serve: front update failed: {exc}", file=sys.stderr, flush=True)
                self._stopped.wait(POLL_S)
        finally:
            os.close(fd)
