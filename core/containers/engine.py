"""Calling a container engine's command line: found on PATH or refused with what to install,
every call with a timeout, its stderr in the message when it fails.

podman reads the site's containers.conf from CONTAINERS_CONF; on nodes like the CI machine
(root inside a container, cgroups in hybrid mode) the repository's etc/podman/containers.conf
is what makes podman work at all, so it is the default when none is set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from core.errors import HpcaiError, ValidationError

REPO_CONTAINERS_CONF = Path(__file__).resolve().parents[2] / "etc" / "podman" / "containers.conf"
QUICK_TIMEOUT = 60  # image inspection, tag, rm
INSTALL_HINTS = {
    "podman": "install podman (Debian: apt-get install podman runc) or choose another runtime",
    "docker": "start a Docker engine (DOCKER_HOST) or choose another runtime",
    "apptainer": "install Apptainer (or SingularityCE) on the nodes or choose another runtime",
}


def engine_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    env.setdefault("CONTAINERS_CONF", str(REPO_CONTAINERS_CONF))
    return env


def require(program: str, fix: str | None = None) -> str:
    path = shutil.which(program)
    if path is None:
        raise ValidationError(f"{program} is not installed on this host", field="runtime",
                              fix=fix or INSTALL_HINTS.get(program, f"install {program}"))
    return path


def run(argv: list[str], timeout: float = QUICK_TIMEOUT, what: str = "",
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run an engine command; a failure is an HpcaiError carrying the engine's own message."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=engine_env(),
                              input=input, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise HpcaiError(f"{what or argv[1]} timed out after {timeout:.0f} s: {' '.join(argv)}",
                         fix="check the engine and the registry are reachable") from exc
    if proc.returncode != 0:
        raise HpcaiError(f"{what or ' '.join(argv[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}",
                         fix="see the engine's message")
    return proc


def run_logged(argv: list[str], log: Callable[[str], None], timeout: float,
               env: dict[str, str] | None = None) -> None:
    """A long step (debootstrap, podman build): its output goes line by line to `log`; a failure
    names the last lines of it."""
    log("+ " + " ".join(argv))
    tail: list[str] = []
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=engine_env(env), stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            log(line.rstrip("\n"))
            tail = (tail + [line.rstrip("\n")])[-20:]
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        raise HpcaiError(f"{os.path.basename(argv[0])} timed out after {timeout:.0f} s",
                         fix="see the build log") from exc
    if code != 0:
        raise HpcaiError(f"{os.path.basename(argv[0])} {argv[1]} failed (exit {code}):\n" + "\n".join(tail),
                         fix="see the build log; fix the Containerfile or the image definition")


def image_exists(podman: str, reference: str) -> bool:
    try:
        proc = subprocess.run([podman, "image", "exists", reference], capture_output=True,
                              timeout=QUICK_TIMEOUT, env=engine_env(), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0
