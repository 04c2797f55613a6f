#!/usr/bin/env python3
"""The Desktop's session (job side): TigerVNC's X server, an XFCE session on it, and websockify
serving noVNC and relaying its WebSocket to the RFB port.

Run by hooks/svcrun as the environment's user. Every port is the job's: `--web-port` is the
private loopback port behind svcrun's gate (the proxy's), `--rfb-port` the second allocated
port, where a VNC client connects directly ("open in client"). The X display number comes
from `-displayfd` (the server takes the first free one), so desktops on one node never
collide. Nothing here trusts the node's other users:

- the RFB port wants VncAuth: the password (vnc_password of the per-instance secret, which
  arrives in the environment and is removed from it before anything starts) goes through
  `vncpasswd -f`'s stdin into a 0600 file of the session directory, never into an argv;
- the X display wants an MIT-MAGIC-COOKIE from a 0600 Xauthority file (without `-auth` any
  local user could open the display and read the screen and the keyboard);
- the session directory (`<job dir>/desktop`) is 0700.

Standard library only (it runs with the image's or the node's python).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

SECRET_ENV = "HPCAI_DESKTOP_SECRET"
NOVNC = Path("/usr/share/novnc")
#: what VncAuth checks: DES uses the first 8 characters of a password, never more
PASSWORD_LEN = 8
READY_TIMEOUT_S = 60
GPU_MODES = ("pgl", "egl")


def vnc_password(secret: str) -> str:
    """The instance's VNC password: derived from its secret (the portal computes the same one
    for the owner's "open" link and connection string), never the secret itself."""
    digest = hmac.new(secret.encode(), b"hpcai-desktop-vnc", hashlib.sha256).digest()
    return base64.b64encode(digest, b"Ab").decode()[:PASSWORD_LEN]


def private_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_password(session: Path, password: str) -> Path:
    """TigerVNC's obfuscated password file, made by its own `vncpasswd -f` from stdin."""
    out = subprocess.run(["vncpasswd", "-f"], input=password.encode() + b"\n", capture_output=True,
                         timeout=30, check=True).stdout
    path = session / "passwd"
    private_file(path, out)
    return path


def write_xauthority(session: Path) -> Path:
    """An Xauthority file of one MIT-MAGIC-COOKIE-1 for any display number and address (the
    number is known only once the server runs): the server loads it with -auth, the session's
    programs find it through XAUTHORITY. Written here: `xauth add` would show the cookie in ps."""
    def field(b: bytes) -> bytes:
        return struct.pack(">H", len(b)) + b

    cookie = secrets.token_bytes(16)
    entry = struct.pack(">H", 0xFFFF) + field(b"") + field(b"") + field(b"MIT-MAGIC-COOKIE-1") + field(cookie)
    path = session / "Xauthority"
    private_file(path, entry)
    return path


def start_x(args: argparse.Namespace, passwd: Path, xauth: Path) -> tuple[subprocess.Popen, int]:
    """Xtigervnc on the first free display; returns it and the display number."""
    read_end, write_end = os.pipe()
    argv = ["Xtigervnc", "-displayfd", str(write_end), "-rfbport", str(args.rfb_port),
            "-SecurityTypes", "VncAuth", "-rfbauth", str(passwd), "-auth", str(xauth),
            "-nolisten", "tcp", "-geometry", args.geometry, "-depth", "24", "-AlwaysShared",
            "-AcceptSetDesktopSize", "-desktop", f"{os.environ.get('USER', 'user')}'s desktop"]
    if args.listen not in ("", "0.0.0.0", "::"):
        argv += ["-interface", args.listen]
    log(" ".join(argv))
    proc = subprocess.Popen(argv, pass_fds=(write_end,), stdin=subprocess.DEVNULL, start_new_session=True)
    os.close(write_end)
    text = b""
    deadline = time.time() + READY_TIMEOUT_S
    with os.fdopen(read_end, "rb") as pipe:  # the server writes "<n>\n" once clients may connect
        while not text.endswith(b"\n") and time.time() < deadline and proc.poll() is None:
            chunk = pipe.read(1)
            if not chunk:
                break
            text += chunk
    if not text.strip().isdigit():
        proc.kill()
        raise SystemExit(f"desktop: Xtigervnc did not start (exit code {proc.poll()})")
    return proc, int(text)


def session_argv(gpu_mode: str) -> list[str]:
    """XFCE under its own D-Bus session bus; with a GPU mode, under VirtualGL where it exists."""
    argv = ["dbus-launch", "--exit-with-session", "xfce4-session"]
    if gpu_mode and shutil.which("vglrun"):
        argv = ["vglrun", "-d", "egl" if gpu_mode == "egl" else os.environ.get("VGL_DISPLAY", ":0")] + argv
    return argv


def log(text: str) -> None:
    print(f"desktop: {text}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--web-port", type=int, required=True)
    ap.add_argument("--web-bind", default="127.0.0.1")
    ap.add_argument("--rfb-port", type=int, required=True)
    ap.add_argument("--listen", default="127.0.0.1", help="the address the RFB port listens on")
    ap.add_argument("--job-dir", required=True)
    ap.add_argument("--geometry", default="1280x800")
    ap.add_argument("--novnc", default=str(NOVNC))
    args = ap.parse_args()
    secret = os.environ.pop(SECRET_ENV, "")
    if not secret:
        log(f"no {SECRET_ENV}: refusing to start a desktop without a password")
        return 2
    gpu_mode = os.environ.get("JH_GPU_MODE", "")
    session = Path(args.job_dir) / "desktop"
    session.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(session, 0o700)
    runtime = session / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    passwd = write_password(session, vnc_password(secret))
    del secret
    xauth = write_xauthority(session)
    children: list[subprocess.Popen] = []
    stopped: list[int] = []

    def stop(signum: int = signal.SIGTERM, _frame: object = None) -> None:
        if _frame is not None:
            stopped.append(signum)
        for proc in reversed(children):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    x, display = start_x(args, passwd, xauth)
    children.append(x)
    log(f"X display :{display}, RFB port {args.rfb_port} (VncAuth)")
    env = dict(os.environ, DISPLAY=f":{display}", XAUTHORITY=str(xauth), XDG_SESSION_TYPE="x11",
               XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR") or str(runtime))
    for name in ("SESSION_MANAGER", "DBUS_SESSION_BUS_ADDRESS", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    desk = subprocess.Popen(session_argv(gpu_mode), env=env, cwd=os.getcwd(), stdin=subprocess.DEVNULL,
                            start_new_session=True)
    children.append(desk)
    target = "127.0.0.1" if args.listen in ("", "0.0.0.0", "::") else args.listen
    ws = subprocess.Popen(["websockify", "--web", args.novnc, f"{args.web_bind}:{args.web_port}",
                           f"{target}:{args.rfb_port}"], stdin=subprocess.DEVNULL, start_new_session=True)
    children.append(ws)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        while all(p.poll() is None for p in children):  # one of them ending ends the desktop
            time.sleep(0.5)
    finally:
        ended = next((p for p in children if p.poll() is not None), None)
        stop()
        for proc in children:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    if stopped:
        log(f"stopped (signal {stopped[0]})")
        return 0
    name = {id(x): "Xtigervnc", id(desk): "the XFCE session", id(ws): "websockify"}.get(id(ended), "")
    rc = ended.returncode if ended is not None else 0
    log(f"{name or 'the desktop'} ended (exit code {rc})")
    return 0 if name == "the XFCE session" and rc == 0 else (rc or 1)


if __name__ == "__main__":
    sys.exit(main())
