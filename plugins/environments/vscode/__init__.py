"""VS Code: code-server (npm `code-server`, pinned in server/package-lock.json and installed by
scripts/setup.sh into server/node_modules) under the proxy path, opened on the working directory.

code-server checks its own password: `HASHED_PASSWORD` is the per-instance secret, given in the
environment (never argv, where `ps` shows it; code-server deletes it from its own environment
before starting terminals). Not being an argon2 hash, code-server compares it with the
`code-server-session` cookie as it is, so the proxy presents that cookie and the browser never
holds it; its login page accepts no typed password (that would have to hash to the secret), and
no other user on the node can use the port."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from core.api import EnvironmentType, ProxyRules, ServiceContext, StartPlan
from core.hookspecs import hookimpl

SERVER_DIR = Path(__file__).with_name("server")
ENTRY = SERVER_DIR / "node_modules" / "code-server" / "out" / "node" / "entry.js"
# code-server's own config file; without one it writes ~/.config/code-server/config.yaml with a
# password of its own into the user's home
CONFIG = "auth: password\ncert: false\n"


def code_server_argv() -> list[str] | None:
    """How to run code-server here: a site's own (HPCAI_CODE_SERVER, or `code-server` on PATH)
    or the one scripts/setup.sh installs next to this file; None when there is none."""
    own = os.environ.get("HPCAI_CODE_SERVER") or shutil.which("code-server")
    if own:
        return [own]
    node = shutil.which("node")
    if node and ENTRY.is_file():
        return [node, str(ENTRY)]
    return None


class VSCode(EnvironmentType):
    name = "vscode"
    title = "VS Code"
    description = "Visual Studio Code in the browser (code-server): editor, terminal, extensions."
    requires = "code-server"
    image_tag = "VSCode"
    open_title = "VS Code"
    order = 20

    def check_available(self) -> str | None:
        if code_server_argv() is None:
            return ("VS Code (code-server) is not installed on this site: scripts/setup.sh installs it "
                    "from the npm registry (it needs node 20), or set HPCAI_CODE_SERVER to a code-server")
        return None

    def status_note(self) -> str:
        return self.check_available() or ""  # not `which code-server`: setup.sh's is not on PATH

    def server_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        argv = code_server_argv() or ["code-server"]
        return StartPlan(
            argv=[*argv, "--auth=password", "--bind-addr={bind}:{port}", "--config={job_dir}/code-server.yaml",
                  "--user-data-dir={job_dir}/vscode-data", "--extensions-dir={job_dir}/vscode-extensions",
                  "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
                  "--disable-getting-started-override", "--ignore-last-opened", "."],
            env={"HASHED_PASSWORD": "{secret}"},
            files={"code-server.yaml": CONFIG},
            native_auth=True, health_path="/healthz")

    def proxy_rules(self, options: dict[str, Any]) -> ProxyRules:
        # code-server's URLs are relative to the page: it serves from its root, the proxy strips
        return ProxyRules(strip_prefix=True, secret_headers={"Cookie": "code-server-session={secret}"})


@hookimpl
def hpcai_environment_types() -> list[EnvironmentType]:
    return [VSCode()]
