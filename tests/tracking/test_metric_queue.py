"""Queued metric logging against the real MLflow server: everything arrives after end_run, after
SIGTERM (the scheduler's kill), and after the server was away for a while."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

import libaiflow
from tests.tracking import rest
from tests.tracking.conftest import REPO_ROOT, free_port

pytestmark = pytest.mark.integration


def test_queued_values_all_arrive_by_end_run(tracking: str) -> None:
    exp = libaiflow.init("queued_exp")
    with libaiflow.start_run(exp.experiment_id, "queued") as run:
        for step in range(3000):
            libaiflow.log_metric("loss", 1.0 / (step + 1), step=step)
        libaiflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=3000)
    history = rest.history(tracking, run.info.run_id, "loss")
    assert [s for s, _ in history] == list(range(3000))
    assert history[9] == (9, pytest.approx(0.1))
    assert rest.metrics(rest.run(tracking, run.info.run_id)) == {"loss": pytest.approx(1 / 3000), "acc": 0.9,
                                                                 "f1": 0.8}


TRAINING = """
import sys, time
import libaiflow
exp = libaiflow.init(sys.argv[1])
run = libaiflow.start_run(exp.experiment_id, "killed")
print(run.info.run_id, flush=True)
for step in range(int(sys.argv[2])):
    libaiflow.log_metric("loss", float(step), step=step)
print("logged", flush=True)
time.sleep(600)  # the scheduler's kill comes here
"""


def test_sigterm_flushes_what_was_queued(tracking: str, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(TRAINING)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, "PYTHONPATH": str(REPO_ROOT),
           "LIBAIFLOW_FLUSH_INTERVAL_S": "3600",  # nothing is sent before the kill unless flushed
           "LIBAIFLOW_TERM_FLUSH_S": "120"}  # a loaded CI machine's server may take seconds per batch
    proc = subprocess.Popen([sys.executable, str(script), "sigterm_exp", "1500"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert proc.stdout.readline().strip() == "logged"
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    err = proc.stderr.read() if proc.stderr else ""
    assert code == -signal.SIGTERM, err  # it still dies of SIGTERM, as before
    assert [s for s, _ in rest.history(tracking, run_id, "loss")] == list(range(1500)), err


class Relay:
    """A TCP relay in front of the MLflow server that can be taken down and brought back."""

    def __init__(self, target: str) -> None:
        parsed = urllib.parse.urlparse(target)
        self.target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()  # down() and a connection being accepted: one wins, whole
        self.up()

    def up(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self._listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            if self._listener is not None:
                try:  # wakes the accept() of the relay's thread; close() alone leaves it listening
                    self._listener.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self._listener.close()
                self._listener = None
            for c in self._conns:  # shutdown ends the connection now; close() alone waits for the pipes
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=30)
            with self._lock:
                if self._listener is not listener:  # taken down while this one was being accepted
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test_server_down_costs_the_training_nothing_and_loses_nothing(
        tracking: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    relay = Relay(tracking)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", relay.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    try:
        exp = libaiflow.init("outage_exp")
        run = libaiflow.start_run(exp.experiment_id, "outage")
        libaiflow.log_metric("loss", 0.0, step=0)
        assert libaiflow.flush(30)
        relay.down()
        for step in range(1, 501):  # the server is away: the loop goes on
            libaiflow.log_metric("loss", float(step), step=step)
        assert not libaiflow.flush(2)  # not sent, not lost
        assert "training goes on, " in capfd.readouterr().err
        relay.up()
        deadline = time.monotonic() + 60  # the sender's back-off brings them over
        while not libaiflow.flush(1) and time.monotonic() < deadline:
            pass
        libaiflow.end_run()
        assert [s for s, _ in rest.history(tracking, run.info.run_id, "loss")] == list(range(501))
        assert "answers again" in capfd.readouterr().err
    finally:
        relay.down()
