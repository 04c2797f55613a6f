"""The run's simulator (spec 04 §1): a green package unpacked into the run's own area, or an
installed start file, started with its allocated ports in HPCAI_SIM_PORTS ("p1,p2,...") before
training and stopped with its whole process group after. The custom environment class reaches
it through env_config["sim_ports"]."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

READY_TIMEOUT_S = 60.0


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start_file(sim: dict[str, Any], area: Path) -> Path:
    if sim["mode"] == "installed":
        return Path(sim["start"])
    target = area / "simulator"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    # tar: the "data" filter (no absolute paths, no links out of the area, no device files); zip
    # members were checked at registration (core.rl.simenvs.archives) and zipfile strips "../"
    archive = str(sim["archive"])
    if archive.endswith(".zip"):
        shutil.unpack_archive(archive, target)
    else:
        shutil.unpack_archive(archive, target, filter="data")
    start = target / sim["start_file"]
    start.chmod(start.stat().st_mode | 0o700)
    return start


@contextmanager
def running_simulator(sim: dict[str, Any] | None, ports: list[int], area: Path,
                      log: Callable[[str], None]) -> Iterator[subprocess.Popen | None]:
    """Start the simulator (a Python built-in has no process: nothing to start) and stop it after."""
    if not sim or (sim.get("mode") == "installed" and sim.get("python_builtin")):
        yield None
        return
    start = _start_file(sim, area)
    out = (area / "simulator.log").open("ab")
    env = {**os.environ, "HPCAI_SIM_PORTS": ",".join(map(str, ports))}
    argv = ["bash", str(start)] if start.suffix == ".sh" else [str(start)]
    proc = subprocess.Popen(argv, cwd=start.parent, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)  # its own group: every child goes with it
    log(f"simulator {sim.get('name', start.name)}: started ({start.name}, ports {ports})")
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while ports and not _listening(ports[0]):
            if proc.poll() is not None:
                tail = (area / "simulator.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the simulator exited with {proc.returncode} before listening on "
                                   f"port {ports[0]}:\n{tail}")
            if time.monotonic() > deadline:  # a UDP-only or slow simulator: train anyway, say so
                log(f"simulator: nothing listens on TCP {ports[0]} after {READY_TIMEOUT_S:.0f} s; training anyway")
                break
            time.sleep(0.2)
        yield proc
    finally:
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        out.close()
        log(f"simulator: stopped (exit {proc.returncode})")
