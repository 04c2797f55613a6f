"""Issue 13, items 1-3 and 8: what the platform RUNS is isolated between users.

A real multi-user site on this machine: two Unix accounts the harness creates with useradd
(iso-alice, iso-bob), the portal running as root (`hpcai serve`, as a site runs it) with the
embedded local scheduler, the identity model's default (same-name mapping, no auto-creation).
Jobs are submitted through the REST API with each user's token. iso-bob's jobs try the attacks
of the security report; each test checks that the attack failed and that nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import load_config
from core.platform import Platform
from core.types import JobRequest
from tests.helpers import portal_server
from tests.webportal.conftest import scratch

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="a multi-user site needs root (useradd, the portal as root)")

ALICE, BOB = "iso-alice", "iso-bob"
ADMIN_PASSWORD = "iso-admin-password-1"
TERMINAL = {"succeeded", "failed", "cancelled"}


def ensure_unix_user(name: str) -> pwd.struct_passwd:
    """A real Unix account for a test user (kept between runs: useradd is machine state)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", name],
                       check=True, capture_output=True, timeout=30)
        return pwd.getpwnam(name)


class Site:
    """The portal as root on its own data directory, and the accounts' API tokens."""

    def __init__(self, data: Path, base: str, platform: Platform, tokens: dict[str, str]):
        self.data, self.base, self.p, self.tokens = data, base, platform, tokens

    def api(self, user: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        req = urllib.request.Request(self.base + "/api/v1" + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {self.tokens[user]}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def submit(self, user: str, command: str, **extra: Any) -> dict[str, Any]:
        status, job = self.api(user, "POST", "/jobs", {
            "framework": "pytorch", "resource_spec": "cpu-1", "command": command,
            "workdir": str(self.p.workspace.home(user)), **extra})
        assert status == 201, job
        return job

    def wait(self, user: str, job_id: int, timeout: float = 90) -> dict[str, Any]:
        end = time.time() + timeout
        while True:
            status, job = self.api(user, "GET", f"/jobs/{job_id}")
            assert status == 200, job
            if job["state"] in TERMINAL or time.time() > end:
                return job
            time.sleep(0.3)

    def log(self, job: dict[str, Any]) -> str:
        return self.p.jobs.get(job["id"], "admin").stdout_path and \
            Path(self.p.jobs.get(job["id"], "admin").stdout_path).read_text(errors="replace")

    def job_count(self) -> int:
        return self.p.jobs.list("admin", all_users=True)[1]


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    for name in (ALICE, BOB):
        ensure_unix_user(name)
    data = scratch("iso-site")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPCAI_")}
    env.update({"HPCAI_DATA_DIR": str(data), "HPCAI_IDENTITY_AUTO_CREATE": "0",
                "HPCAI_ADMIN_PASSWORD": ADMIN_PASSWORD, "PYTHONUNBUFFERED": "1"})
    p = Platform(load_config(env))
    p.accounts.seed_admin(ADMIN_PASSWORD)
    tokens = {"admin": p.accounts.create_token("admin")}
    for name in (ALICE, BOB, "iso-nounix"):
        p.accounts.create(name, f"{name}-password1")
        tokens[name] = p.accounts.create_token(name)
    with portal_server(env, data / "serve.log", Path(__file__).resolve().parents[2]) as base:
        yield Site(data, base, p, tokens)


@pytest.fixture(scope="module")
def alice_failed_job(site: Site) -> dict[str, Any]:
    """A finished, failed job of the victim: its directory and outcome are what iso-bob attacks."""
    job = site.submit(ALICE, "echo alice-private-output; exit 1")
    job = site.wait(ALICE, job["id"])
    assert job["state"] == "failed" and job["exit_code"] == 1, job
    return job


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_job_runs_as_its_accounts_unix_user_in_a_private_directory(site: Site) -> None:
    job = site.wait(ALICE, site.submit(ALICE, "id -un; echo HOME=$HOME; touch made-here")["id"])
    assert job["state"] == "succeeded", site.log(job)
    log = site.log(job)
    assert ALICE in log.splitlines()[1:3] or f"\n{ALICE}\n" in log, log
    assert f"HOME={pwd.getpwnam(ALICE).pw_dir}" in log
    st = Path(job["job_dir"]).stat()
    assert (pwd.getpwuid(st.st_uid).pw_name, st.st_mode & 0o777) == (ALICE, 0o700)
    made = site.p.workspace.home(ALICE) / "made-here"  # the job writes in its own workspace
    assert pwd.getpwuid(made.stat().st_uid).pw_name == ALICE


def test_an_account_without_a_unix_user_is_refused_and_nothing_is_created(site: Site) -> None:
    before = site.job_count()
    status, body = site.api("iso-nounix", "POST", "/jobs", {
        "framework": "pytorch", "resource_spec": "cpu-1", "command": "id",
        "workdir": str(site.p.workspace.home("iso-nounix"))})
    assert status == 403, body
    assert "no Unix account" in body["error"] and "auto_create" in body["fix"], body
    assert site.job_count() == before
    assert not (site.p.config.spool / "iso-nounix").exists()


def test_platform_secrets_and_store_are_not_readable_by_a_job(site: Site) -> None:
    secret = (site.data / "portal-secret").read_text().strip()
    accounts = len(site.p.accounts.list())
    files = " ".join(str(site.data / f) for f in ("portal-secret", "hpcai.db"))
    (site.p.workspace.home(BOB) / "forge.py").write_text(  # make itself an admin in the store
        "import sqlite3\nc = sqlite3.connect('file:%s?mode=rw', uri=True)\n"
        "c.execute(\"update accounts set role='admin'\")\nc.commit()\n" % (site.data / "hpcai.db"))
    job = site.wait(BOB, site.submit(BOB, f"cat {files}; python3 forge.py; env")["id"])
    log = site.log(job)
    assert secret not in log
    assert log.count("Permission denied") >= 2 and "unable to open database" in log, log
    assert ADMIN_PASSWORD not in log  # the portal's environment does not reach jobs
    assert "HPCAI_DB_URL" not in log and "HPCAI_ADMIN_PASSWORD" not in log
    assert len(site.p.accounts.list()) == accounts and not site.p.accounts.is_admin(BOB)


def test_the_ledger_cannot_be_rewritten_to_redirect_signals(site: Site) -> None:
    ledger = site.p.config.spool / ".local" / "ledger.json"
    before = _digest(ledger)
    job = site.wait(BOB, site.submit(
        BOB, f"echo '{{\"next_id\": 1, \"jobs\": {{}}}}' > {ledger}; echo x >> {ledger.parent}/ledger.lock; "
             f"ls {ledger.parent}/jobs")["id"])
    log = site.log(job)
    assert log.count("Permission denied") >= 3, log
    assert (ledger.stat().st_mode & 0o777, ledger.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    assert json.loads(ledger.read_text())["next_id"] > 1 and _digest(ledger) != "" and before


def test_another_users_job_directory_is_neither_readable_nor_writable(
        site: Site, alice_failed_job: dict[str, Any]) -> None:
    target = Path(alice_failed_job["job_dir"])
    before = (target / "exit_code").read_text()
    job = site.wait(BOB, site.submit(
        BOB, f"cat {target}/output.*.txt; echo 0 > {target}/exit_code; ls {target}")["id"])
    log = site.log(job)
    assert "alice-private-output" not in log and log.count("Permission denied") >= 3, log
    assert (target / "exit_code").read_text() == before
    site.p.jobs.refresh(["local"])
    assert site.p.jobs.get(alice_failed_job["id"], ALICE).state == "failed"


def test_a_job_cannot_fake_its_own_success(site: Site) -> None:
    # Writes "0" before it ends (a half-written outcome), and again after its script exited.
    early = site.submit(BOB, 'echo 0 > "$HPCAI_JOB_DIR/exit_code"; sleep 4; exit 1')
    late = site.submit(BOB, '(sleep 1; echo 0 > "$HPCAI_JOB_DIR/exit_code") & exit 2')
    time.sleep(2)
    status, mid = site.api(BOB, "GET", f"/jobs/{early['id']}")
    assert mid["state"] in ("queued", "running"), mid  # an exit_code file is not the end
    early, late = site.wait(BOB, early["id"]), site.wait(BOB, late["id"])
    time.sleep(1.5)  # the late writer has written by now
    site.p.jobs.refresh(["local"])
    assert (early["state"], early["exit_code"]) == ("failed", 1), early
    assert site.p.jobs.get(late["id"], BOB).state == "failed"
    assert site.p.jobs.get(late["id"], BOB).exit_code == 2


@pytest.mark.parametrize("name", ["HPCAI_JOB_UUID", "HPCAI_USER", "MLFLOW_RUN_ID", "MLFLOW_TRACKING_TOKEN"])
def test_identity_variables_in_a_users_env_are_refused(site: Site, name: str) -> None:
    before = site.job_count()
    status, body = site.api(BOB, "POST", "/jobs", {
        "framework": "pytorch", "resource_spec": "cpu-1", "command": "env",
        "workdir": str(site.p.workspace.home(BOB)), "env": {name: "forged"}})
    assert status == 400 and body["field"] == "env" and name in body["error"], body
    assert site.job_count() == before


def test_cancel_signals_only_the_jobs_own_verified_session(site: Site) -> None:
    """Even if a ledger entry pointed at another session (the redirect a writable ledger
    allowed), cancel signals no process that is not the job's user's."""
    from core.api import JobRef

    victim = subprocess.Popen(["sleep", "120"], start_new_session=True)  # root's, in its own session
    sched = site.p.registry.scheduler("local")
    job = site.submit(BOB, "sleep 60")
    ref = JobRef(scheduler_job_id=job["scheduler_job_id"], job_dir=job["job_dir"])
    try:
        for _ in range(200):
            real_sid = sched.ledger.snapshot()[ref.scheduler_job_id].job_sid
            if real_sid:
                break
            time.sleep(0.1)
        assert real_sid, "the job did not start"
        with sched.ledger.locked() as data:  # what any local user could do to the old 0666 ledger
            data["jobs"][ref.scheduler_job_id]["job_sid"] = victim.pid
        status, body = site.api(BOB, "POST", f"/jobs/{job['id']}/kill")
        assert status == 200, body
        time.sleep(0.5)
        assert victim.poll() is None, "a process outside the job was signalled"
    finally:
        victim.kill()
        victim.wait(timeout=10)
        with sched.ledger.locked() as data:  # the real session, so the job ends now
            data["jobs"][ref.scheduler_job_id]["job_sid"] = real_sid
        sched.cancel(ref)
    assert site.wait(BOB, job["id"])["state"] == "cancelled"


def test_a_planted_link_never_makes_root_write_elsewhere(site: Site, tmp_path: Path) -> None:
    """The supervisor opens the job's output as the job's user: a link the user planted to a
    root-owned file is not followed with root's rights."""
    victim = site.data / "root-owned-file"
    victim.write_text("untouched\n")
    os.chmod(victim, 0o644)
    home = site.p.workspace.home(BOB)
    link = home / "out.txt"
    link.unlink(missing_ok=True)
    os.symlink(victim, link)
    os.lchown(link, pwd.getpwnam(BOB).pw_uid, pwd.getpwnam(BOB).pw_gid)
    row = site.p.jobs.submit(JobRequest(user=BOB, command="echo overwritten", workdir=str(home),
                                        framework="pytorch", options={"resource_spec": "cpu-1"},
                                        stdout="out.txt", cwd=str(home), source="portal"))
    job = site.wait(BOB, row.id)
    assert job["state"] == "failed", job
    assert victim.read_text() == "untouched\n"


def test_a_link_in_place_of_the_log_does_not_make_the_portal_read_for_the_job(site: Site) -> None:
    """The portal (root) reads a job's log for its owner: a link the job put in its place
    (to portal-secret) is not followed."""
    secret = (site.data / "portal-secret").read_text().strip()
    job = site.wait(BOB, site.submit(
        BOB, f'log="$HPCAI_JOB_DIR/output.$LSB_JOBID.txt"; rm -f "$log"; ln -s {site.data}/portal-secret "$log"')["id"])
    assert job["state"] == "succeeded"
    status, body = site.api(BOB, "GET", f"/jobs/{job['id']}/log")
    assert status == 200 and secret not in body["text"], body
    req = urllib.request.Request(f"{site.base}/jobs/{job['id']}/log/stream",
                                 headers={"Authorization": f"Bearer {site.tokens[BOB]}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert secret not in resp.read().decode()


def test_live_log_streams_are_capped_per_user(site: Site) -> None:
    """Each live log holds a portal thread: one user's many tabs must not take them all."""
    job = site.submit(ALICE, "sleep 20")

    def stream(user: str) -> Any:
        req = urllib.request.Request(f"{site.base}/jobs/{job['id'] if user == ALICE else bob_job['id']}/log/stream",
                                     headers={"Authorization": f"Bearer {site.tokens[user]}"})
        try:
            return urllib.request.urlopen(req, timeout=30)
        except urllib.error.HTTPError as exc:
            return exc

    bob_job = site.submit(BOB, "sleep 1")
    opened = [stream(ALICE) for _ in range(4)]
    try:
        assert [r.status for r in opened] == [200] * 4
        fifth = stream(ALICE)
        assert fifth.code == 429 and "at most 4 live logs" in fifth.headers["X-Hpcai-Error"]
        other = stream(BOB)  # another user still gets theirs
        assert other.status == 200
        other.close()
        opened.pop().close()  # a closed stream gives its slot back (the server sees it at its next write)
        for _ in range(60):
            again = stream(ALICE)
            if again.status == 200:
                break
            time.sleep(0.5)
        assert again.status == 200
        opened.append(again)
    finally:
        for r in opened:
            r.close()
        site.api(ALICE, "POST", f"/jobs/{job['id']}/kill")


def test_the_watchers_socket_takes_pokes_only_from_the_platforms_user(site: Site) -> None:
    """The watcher's abstract socket has no file mode; another user's datagrams are ignored."""
    import sys

    from portal.server import SharedWatcher

    p = Platform(load_config({"HPCAI_DATA_DIR": str(scratch("iso-watch")), "HPCAI_IDENTITY_AUTO_CREATE": "0"}))
    shared = SharedWatcher(p).start()
    try:
        for _ in range(100):
            if shared.watcher is not None:
                break
            time.sleep(0.1)
        pokes: list[int] = []
        shared.watcher.poke = lambda: pokes.append(1)  # type: ignore[union-attr, method-assign]
        send = f"import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'poke', {shared.address!r})"
        subprocess.run(["runuser", "-u", BOB, "--", sys.executable, "-c", send], check=True, timeout=30)
        time.sleep(1.5)
        assert pokes == [], "another user's datagram poked the watcher"
        subprocess.run([sys.executable, "-c", send], check=True, timeout=30)
        for _ in range(30):
            if pokes:
                break
            time.sleep(0.1)
        assert pokes == [1]
    finally:
        shared.stop()


def test_another_users_cli_cannot_open_the_platforms_store(site: Site) -> None:
    """On a root-run site a user's own `hpcai` gets a sentence, not the store (nor a traceback)."""
    import sys

    out = subprocess.run(["runuser", "-u", BOB, "--", "env", f"HPCAI_DATA_DIR={site.data}", sys.executable,
                          "-m", "cli.main", "jobs"], cwd=Path(__file__).resolve().parents[2],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "belongs to root" in out.stderr and "use the portal" in out.stderr
