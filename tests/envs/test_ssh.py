"""Issue 17 item 3 (spec 01 §5, F17, F21-F24): SSH into a development environment.

Unit tests of the login, password and hash helpers, then the real thing: hooks/envrun started
as a Unix user (setpriv, as the scheduler starts an environment) runs Debian's sshd on a free
port in front of `sleep`, and a real `ssh` client (through sshpass) logs in with the generated
login and password. A second user's environment shows that one user's login does not open
another's port.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.api import Image
from core.environments import ssh

# The reference vector of Drepper's SHA-crypt specification (the one libxcrypt and sshd check).
VECTOR_PW = "Hello world!"
VECTOR = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"


# ---------------------------------------------------------------- unit


def test_login_is_user_dash_eight_random_lowercase_or_digits() -> None:
    logins = {ssh.new_login("alice") for _ in range(50)}
    assert all(re.fullmatch(r"alice-[a-z0-9]{8}", x) for x in logins), logins
    assert len(logins) == 50  # random, not derived from the user


@pytest.mark.parametrize("bad", ["", "Root", "a b", "al*ce", "bob@host", "x" * 49, "-x"])
def test_login_refuses_names_sshd_cannot_match_literally(bad: str) -> None:
    with pytest.raises(ValueError, match="Unix login name"):
        ssh.new_login(bad)


def test_password_is_long_random_letters_and_digits() -> None:
    pws = {ssh.new_password() for _ in range(20)}
    assert len(pws) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9]{20}", p) for p in pws)


def test_hash_is_sha512_crypt_salted_and_verifies() -> None:
    pw = ssh.new_password()
    h1, h2 = ssh.hash_password(pw), ssh.hash_password(pw)
    assert re.fullmatch(r"\$6\$[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}", h1)
    assert h1 != h2  # a fresh salt each time
    assert pw not in h1
    assert ssh.verify_password(pw, h1) and ssh.verify_password(pw, h2)
    assert not ssh.verify_password(pw + "x", h1)
    assert not ssh.verify_password(pw.swapcase(), h1)


def test_verify_matches_the_reference_vector() -> None:
    assert ssh.verify_password(VECTOR_PW, VECTOR)
    assert not ssh.verify_password("Hello world?", VECTOR)


@pytest.mark.parametrize("hashed", ["", "x", "$1$abc$def", VECTOR[:-1], VECTOR + "A"])
def test_verify_refuses_what_is_no_sha512_crypt_hash(hashed: str) -> None:
    assert not ssh.verify_password(VECTOR_PW, hashed)


def test_hash_refuses_empty_and_multiline_passwords() -> None:
    with pytest.raises(ValueError):
        ssh.hash_password("")
    with pytest.raises(ValueError):
        ssh.hash_password("a\nb")


def test_connection_strings_have_the_spec_forms() -> None:
    c = ssh.connection_strings("jhadmin-hikiqhae", "192.168.25.120", 6988)
    assert c["ssh"] == "ssh jhadmin-hikiqhae@192.168.25.120 -p 6988"
    assert c["xshell"] == "ssh jhadmin-hikiqhae@192.168.25.120 6988"  # Xshell takes no -p


def test_sshd_missing_names_what_is_missing_and_the_fix(tmp_path: Path) -> None:
    assert ssh.sshd_missing(None) is None  # scripts/setup.sh installs both
    host = Image(name="pytorch", runtime="host", reference="/x")
    assert ssh.sshd_missing(host) is None
    reason = ssh.sshd_missing(None, sshd=str(tmp_path / "sshd"))
    assert reason and "openssh-server" in reason and "switch SSH off" in reason
    reason = ssh.sshd_missing(host, nss_wrapper=str(tmp_path / "libnss_wrapper.so"))
    assert reason and "libnss-wrapper" in reason
    plain = Image(name="ubuntu", runtime="podman", reference="ubuntu:22.04", tags=["Terminal"])
    reason = ssh.sshd_missing(plain)
    assert reason and "'ubuntu'" in reason and "'SSH' tag" in reason
    tagged = Image(name="ubuntu-ssh", runtime="podman", reference="u", tags=["ssh"])
    assert ssh.sshd_missing(tagged) is None


def test_wrap_argv_keeps_the_hash_out_of_envrun_argv() -> None:
    h = ssh.hash_password("pw-1")
    argv = ssh.wrap_argv(["jupyter", "lab"], port=2222, login="a-12345678", password_hash=h,
                         home="/home/a", workdir="/w", python="/usr/bin/python3")
    assert argv[:2] == ["/usr/bin/env", f"{ssh.HASH_ENV}={h}"]  # env's own argv, gone after its exec
    rest = argv[2:]
    assert rest[:2] == ["/usr/bin/python3", str(ssh.ENVRUN)] and h not in rest
    assert rest[-3:] == ["--", "jupyter", "lab"]
    for bad in ({"port": 0}, {"port": 65536}, {"password_hash": "plain"}, {"login": "a"},
                {"login": "a:0:0:x-12345678"}, {"home": "relative"}, {"workdir": "/w:/bin/sh"}):
        kw = {"port": 2222, "login": "a-12345678", "password_hash": h, "home": "/h", "workdir": "/w", **bad}
        with pytest.raises(ValueError):
            ssh.wrap_argv(["x"], **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- real sshd, two Unix users

real = pytest.mark.skipif(os.getuid() != 0 or not shutil.which("sshpass") or ssh.sshd_missing(None) is not None,
                          reason="needs root (useradd, runuser), sshpass and sshd with nss_wrapper")
ALICE, BOB = "ssh-alice", "ssh-bob"
WAIT_S = 60  # a bound on waiting, not a timing assertion


def ensure_unix_user(name: str):  # noqa: ANN201 - pwd.struct_passwd
    from tests.isolation.test_multiuser import ensure_unix_user as ensure

    return ensure(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Env:
    user: str
    login: str
    password: str
    port: int
    job_dir: Path
    workdir: Path
    proc: subprocess.Popen
    log: Path

    def ssh(self, command: str, *, login: str | None = None, password: str | None = None,
            port: int | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["sshpass", "-p", password or self.password, "ssh", "-p", str(port or self.port),
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
             "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
             "-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=20",
             f"{login or self.login}@127.0.0.1", command],
            capture_output=True, text=True, timeout=WAIT_S, stdin=subprocess.DEVNULL)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=WAIT_S)


def launch(user: str, base: Path, command: list[str], port: int | None = None, login: str | None = None) -> Env:
    """envrun as `user` (setpriv execs, as a scheduler drops privileges: the process is envrun)."""
    pw = ensure_unix_user(user)
    job_dir, workdir = base / f"{user}-job", base / f"{user}-work"
    for d in (job_dir, workdir):
        d.mkdir(exist_ok=True)
        os.chown(d, pw.pw_uid, pw.pw_gid)
        d.chmod(0o700)
    login, password, port = login or ssh.new_login(user), ssh.new_password(), port or free_port()
    argv = ssh.wrap_argv(command, port=port, login=ssh.new_login(user), password_hash=ssh.hash_password(password),
                         home=pw.pw_dir, workdir=str(workdir), python="/usr/bin/python3")
    argv[argv.index("--login") + 1] = login  # what envrun itself accepts, past wrap_argv's checks
    log = base / f"{user}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups",
                                 "--reset-env", "/usr/bin/env", f"HPCAI_JOB_DIR={job_dir}", *argv],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Env(user, login, password, port, job_dir, workdir, proc, log)


def start_env(user: str, base: Path, command: list[str]) -> Env:
    env = launch(user, base, command)
    deadline = time.time() + WAIT_S
    while "sshd listening" not in env.log.read_text():
        if env.proc.poll() is not None or time.time() > deadline:
            env.stop()
            pytest.fail(f"envrun did not start sshd:\n{env.log.read_text()}")
        time.sleep(0.2)
    return env


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="hpcai-ssh-test-"))
    d.chmod(0o755)  # the users reach their own 0700 dirs below
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def alice(base: Path) -> Iterator[Env]:
    env = start_env(ALICE, base, ["sleep", "600"])
    yield env
    env.stop()


@pytest.fixture(scope="module")
def bob(base: Path) -> Iterator[Env]:
    env = start_env(BOB, base, ["sleep", "600"])
    yield env
    env.stop()


@real
def test_login_runs_as_the_user_in_the_working_directory(alice: Env) -> None:
    out = alice.ssh("id -un; pwd; echo $HOME $USER; env | grep -c -e NSS_WRAPPER -e LD_PRELOAD -e HPCAI_SSH; true")
    assert out.returncode == 0, out.stderr + alice.log.read_text()
    # the session sees the real account (no nss_wrapper, no hash in its environment)
    assert out.stdout.split() == [ALICE, str(alice.workdir), f"/home/{ALICE}", ALICE, "0"]


@real
def test_sshd_runs_as_the_user_with_private_files(alice: Env) -> None:
    uid = ensure_unix_user(ALICE).pw_uid
    state = alice.job_dir / "ssh"
    for name in ("sshd_config", "passwd", "group", "host_ed25519_key"):
        st = (state / name).stat()
        assert (st.st_uid, st.st_mode & 0o777) == (uid, 0o600), name
    assert f"{alice.login}:$6$" in (state / "passwd").read_text()
    assert alice.password not in (state / "passwd").read_text() + alice.log.read_text()
    out = subprocess.run(["ps", "-o", "user=", "-C", "sshd"], capture_output=True, text=True, timeout=30)
    assert ALICE in out.stdout.split()  # sshd itself, not root, listens for alice


@real
def test_wrong_password_is_refused(alice: Env) -> None:
    out = alice.ssh("echo in", password=alice.password + "x")
    # one prompt: ssh itself gives up (255) with sshd's refusal, not a network error
    assert out.returncode != 0 and out.stdout == "" and "Permission denied" in out.stderr, out


@real
def test_another_users_login_does_not_open_this_port(alice: Env, bob: Env) -> None:
    assert bob.ssh("id -un").stdout.split() == [BOB]  # bob's own login works on bob's port
    for login, password in ((bob.login, bob.password), (alice.login, bob.password),
                            (ALICE, alice.password), ("root", alice.password)):
        out = alice.ssh("id -un", login=login, password=password)
        assert out.returncode != 0 and out.stdout == "" and "Permission denied" in out.stderr, (login, out)
    out = bob.ssh("id -un", login=alice.login, password=alice.password)  # nor alice's on bob's
    assert out.returncode != 0 and out.stdout == "" and "Permission denied" in out.stderr


@real
def test_sigterm_ends_sshd_its_sessions_and_envrun(base: Path) -> None:
    env = start_env("ssh-carol", base, ["sleep", "600"])
    assert env.ssh("true").returncode == 0  # a finished connection: its handler must be reaped
    session = subprocess.Popen(
        ["sshpass", "-p", env.password, "ssh", "-p", str(env.port), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no", f"{env.login}@127.0.0.1",
         "echo up; exec sleep 600"], stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        assert session.stdout is not None and session.stdout.readline().strip() == "up"
        rc = env.stop()
        assert rc == 128 + signal.SIGTERM, env.log.read_text()  # sleep's own end, passed on
        assert not listening(env.port)
        assert session.wait(timeout=WAIT_S) != 0  # the open session ended with the environment
        left = subprocess.run(["ps", "-o", "pid=,cmd=", "-u", "ssh-carol"], capture_output=True, text=True,
                              timeout=30).stdout
        assert left.strip() == "", left  # nor what ran in it, nor an unreaped handler (zombies count)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()


@real
def test_command_end_ends_sshd_with_the_commands_exit_code(base: Path) -> None:
    env = start_env("ssh-dave", base, ["sh", "-c", f"while [ ! -e {base}/ssh-dave-work/done ]; do sleep 0.2; done; exit 3"])
    assert env.ssh("touch done").returncode == 0  # in the working directory
    assert env.proc.wait(timeout=WAIT_S) == 3
    assert not listening(env.port)


@real
def test_sftp_works_in_the_working_directory(alice: Env, base: Path) -> None:
    """PyCharm's and VS Code's remote development copy files over SFTP."""
    src = base / "upload.txt"
    src.write_text("hello from the client\n")
    # commands on stdin, not -b: a batch file turns password authentication off
    out = subprocess.run(["sshpass", "-p", alice.password, "sftp", "-P", str(alice.port),
                          "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                          "-o", "PubkeyAuthentication=no", f"{alice.login}@127.0.0.1"],
                         input=f"put {src} uploaded.txt\nbye\n", capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 0, out.stderr
    dest = alice.workdir / "uploaded.txt"
    assert dest.read_text() == "hello from the client\n"
    assert dest.stat().st_uid == ensure_unix_user(ALICE).pw_uid


@real
def test_a_taken_port_fails_the_environment_with_a_clear_message(base: Path, bob: Env) -> None:
    env = launch("ssh-erin", base, ["sleep", "600"], port=bob.port)  # bob's sshd holds it
    try:
        assert env.proc.wait(timeout=WAIT_S) == 1
    finally:
        env.stop()
    log = env.log.read_text()
    assert f"sshd did not start on port {bob.port}" in log and "sshd listening" not in log, log
    assert bob.ssh("id -un").stdout.split() == [BOB]  # bob's environment is untouched


@real
@pytest.mark.parametrize("login", ["ssh-erin:x:0:0::/:/bin/sh", "root", "ssh-erin-*"])
def test_envrun_refuses_a_login_that_would_rewrite_its_files(base: Path, login: str) -> None:
    fresh = Path(tempfile.mkdtemp(dir=base))
    fresh.chmod(0o755)
    env = launch("ssh-erin", fresh, ["sleep", "600"], login=login)
    try:
        assert env.proc.wait(timeout=WAIT_S) == 2
    finally:
        env.stop()
    assert "--login" in env.log.read_text() and not (env.job_dir / "ssh" / "passwd").exists()


@real
def test_a_restart_keeps_the_host_key_and_takes_the_new_login(base: Path) -> None:
    """Modify + restart (F21): the same job directory, a new login; clients see the same host."""
    first = start_env("ssh-frank", base, ["sleep", "600"])
    key = (first.job_dir / "ssh" / "host_ed25519_key.pub").read_text()
    assert first.stop() == 128 + signal.SIGTERM
    second = start_env("ssh-frank", base, ["sleep", "600"])
    try:
        assert (second.job_dir / "ssh" / "host_ed25519_key.pub").read_text() == key
        assert second.ssh("id -un").stdout.split() == ["ssh-frank"]
        old = second.ssh("id -un", login=first.login, password=first.password)
        assert old.returncode != 0 and "Permission denied" in old.stderr
    finally:
        second.stop()


@real
def test_an_interactive_terminal_is_a_login_shell_in_the_working_directory(alice: Env) -> None:
    """What Xshell and VS Code's terminal open: a pty, a login shell, commands typed in."""
    out = subprocess.run(
        ["sshpass", "-p", alice.password, "ssh", "-tt", "-p", str(alice.port), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "PubkeyAuthentication=no",
         f"{alice.login}@127.0.0.1"],
        input='echo "in:$0:$(tty):$(id -un):$PWD"; exit\n', capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 0, out
    assert re.search(rf"^in:-bash:/dev/pts/\d+:{ALICE}:{re.escape(str(alice.workdir))}\r?$", out.stdout, re.M), out


@real
def test_a_local_port_forward_reaches_the_environment(alice: Env) -> None:
    """VS Code's and PyCharm's remote development tunnel to their server through `ssh -L`."""
    local = free_port()
    tunnel = subprocess.Popen(
        ["sshpass", "-p", alice.password, "ssh", "-N", "-L", f"127.0.0.1:{local}:127.0.0.1:{alice.port}",
         "-p", str(alice.port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "LogLevel=ERROR", "-o", "PubkeyAuthentication=no", "-o", "ExitOnForwardFailure=yes",
         f"{alice.login}@127.0.0.1"], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + WAIT_S
        while not listening(local):
            assert tunnel.poll() is None and time.time() < deadline, tunnel.stderr.read() if tunnel.stderr else ""
            time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", local), timeout=WAIT_S) as s:
            assert s.recv(64).startswith(b"SSH-2.0-")  # the environment's own sshd, through the tunnel
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=WAIT_S)
