"""Desktop: an XFCE desktop on TigerVNC (Debian `tigervnc-standalone-server`), in the browser
through noVNC (Debian `novnc`, served and relayed by `websockify`), or in a VNC client.

Ports: `{port}` is websockify's, on svcrun's private loopback port behind its gate (only the
proxy's signed connections reach it); `{port1}` is the RFB port a VNC client connects to
directly ("open in client"). The RFB port wants VncAuth with a per-start password derived
from the instance's secret (session.vnc_password), so another Unix user of the node who finds
either port still cannot see the screen.

How the browser gets the password without the user typing it: the portal, which holds the
secret, puts it in the "open" link's fragment (`vnc.html#...&password=...`). A fragment never
leaves the browser: neither the portal's proxy nor websockify logs it, and noVNC reads its
settings from the fragment before the query. The owner sees the link and the connection
string (with the password, like SSH's) on the environment's page only.

F33: `gpu_mode` (pgl | egl) sets `JH_GPU_MODE` for the session, which runs under VirtualGL's
`vglrun` where the node has it (this site's test machine has no GPU: the mode is validated
and rendered, not exercised)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

from core.api import EnvironmentType, ProxyRules, ServiceContext, StartPlan
from core.hookspecs import hookimpl

from .session import GPU_MODES, NOVNC, SECRET_ENV, vnc_password

SESSION = Path(__file__).with_name("session.py")
#: what a node needs (Debian: tigervnc-standalone-server, tigervnc-tools, websockify, xfce4, dbus-x11)
PROGRAMS = ("Xtigervnc", "vncpasswd", "websockify", "xfce4-session", "dbus-launch")
#: the spec's pairing (F33): pass-through on an exclusive GPU spec, EGL on a shared one
GPU_SPEC_MODE = {"pgl": "exclusive", "egl": "shared"}


class Desktop(EnvironmentType):
    name = "desktop"
    title = "Desktop"
    description = "A full XFCE desktop (TigerVNC), in the browser (noVNC) or a VNC client."
    requires = "Xtigervnc"
    image_tag = "Desktop"
    open_title = "Desktop"
    order = 40
    server_ports = 2  # websockify (proxied) and the RFB port (a VNC client's)

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {
            "gpu_mode": {"type": "string", "title": "GPU rendering mode (JH_GPU_MODE)", "enum": ["", *GPU_MODES],
                         "x-enum-labels": {"": "none", "pgl": "PGL: GPU pass-through (exclusive spec)",
                                           "egl": "EGL: shared GPU (shared spec)"},
                         "default": "", "x-order": 10}}}

    def check_available(self) -> str | None:
        missing = [p for p in PROGRAMS if shutil.which(p) is None]
        if not (NOVNC / "vnc.html").exists():
            missing.append(f"noVNC ({NOVNC}/vnc.html)")
        if missing:
            return ("the Desktop needs TigerVNC, noVNC, websockify and XFCE on the nodes; missing: "
                    + ", ".join(missing))
        return None

    def check_spec(self, options: dict[str, Any], spec: Any) -> tuple[str, str] | None:
        mode = options.get("gpu_mode") or ""
        if not mode:
            return None
        want = GPU_SPEC_MODE[mode]
        if spec is None or not getattr(spec, "gpus", 0) or getattr(spec, "gpu_mode", None) != want:
            got = f"'{spec.name}' is a CPU spec" if spec is not None and not getattr(spec, "gpus", 0) else \
                f"'{getattr(spec, 'name', '?')}' is not {want}"
            return (f"JH_GPU_MODE={mode} needs a GPU spec of mode {want}; {got}",
                    f"choose a {want} GPU resource spec, or set the GPU rendering mode to none")
        return None

    def server_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        env = {SECRET_ENV: "{secret}"}  # session.py takes it out of its environment at once
        if options.get("gpu_mode"):
            env["JH_GPU_MODE"] = str(options["gpu_mode"])
        return StartPlan(
            argv=["{python}", str(SESSION), "--web-port={port}", "--web-bind={bind}", "--rfb-port={port1}",
                  "--listen={listen}", "--job-dir={job_dir}", f"--novnc={NOVNC}"],
            env=env, ports=self.server_ports, health_path="/vnc.html")

    def proxy_rules(self, options: dict[str, Any]) -> ProxyRules:
        return ProxyRules(strip_prefix=True)

    def open_path(self, base_path: str, secret: str) -> str:
        settings = {"autoconnect": "1", "reconnect": "1", "resize": "remote",
                    "path": base_path.strip("/") + "/websockify", "password": vnc_password(secret)}
        return "vnc.html#" + "&".join(f"{k}={quote(v, safe='/')}" for k, v in settings.items())

    def client_connection(self, host: str, ports: list[int], secret: str) -> dict[str, str] | None:
        if len(ports) < 2 or not secret:
            return None
        return {"vnc": f"{host}:{ports[1]}", "host": host, "port": str(ports[1]),
                "password": vnc_password(secret)}


@hookimpl
def hpcai_environment_types() -> list[EnvironmentType]:
    return [Desktop()]
