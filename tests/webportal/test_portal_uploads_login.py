"""Project-directory upload (folders, zip archives), log-in throttling, the classification switch
(F1/F2) and the shm default from Docker's daemon.json (F3): Flask's test client on a real store.
"""

from __future__ import annotations

import io
import json
import stat
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.accounts import LoginPolicy
from core.site_settings import docker_size_mb
from tests.webportal.conftest import login, make_platform, scratch


@pytest.fixture()
def alice(app):  # type: ignore[no-untyped-def]
    c = app.test_client()
    c.csrf = login(c, "alice", "alicepass1")
    return c


@pytest.fixture()
def admin(app):  # type: ignore[no-untyped-def]
    c = app.test_client()
    c.csrf = login(c, "admin", "adminpass1")
    return c


def zip_bytes(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def leftovers(home: Path) -> list[Path]:
    return list(home.rglob(".hpcai-upload-*"))


# --- folder upload --------------------------------------------------------------------------

def test_folder_upload_keeps_tree_and_is_a_project(alice, platform) -> None:  # type: ignore[no-untyped-def]
    home = platform.workspace.home("alice")
    files = {"proj/train.py": b"print('hi')\n", "proj/pkg/__init__.py": b"", "proj/pkg/model.py": b"X = 1\n"}
    data = {"file": [(io.BytesIO(v), k.rsplit("/", 1)[-1]) for k, v in files.items()],
            "relative_path": list(files)}
    r = alice.post("/api/v1/files/upload", headers={"X-CSRF-Token": alice.csrf}, data=data)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["project"] == str(home / "proj") and body["files"] == 3 and body["bytes"] == 18
    assert (home / "proj" / "pkg" / "model.py").read_text() == "X = 1\n"
    # A folder of many files: more form parts than werkzeug's default 1000 (2 per file).
    many = {"file": [(io.BytesIO(b"%d" % i), f"{i}.txt") for i in range(700)],
            "relative_path": [f"many/d{i % 7}/{i}.txt" for i in range(700)]}
    r = alice.post("/api/v1/files/upload", headers={"X-CSRF-Token": alice.csrf}, data=many)
    assert r.status_code == 201 and r.get_json()["files"] == 700, r.get_json()
    assert (home / "many" / "d6" / "699.txt").read_text() == "699"
    # The uploaded folder is a valid project directory for a job (dry run: plan and script only).
    r = alice.post("/api/v1/jobs?dry_run=1", headers={"X-CSRF-Token": alice.csrf}, json={
        "framework": "pytorch", "mode": "standalone", "workdir": body["project"],
        "command": "python train.py", "resource_spec": "cpu-1"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["plan"]["workdir"] == str(home / "proj")


@pytest.mark.parametrize("bad", ["../evil.py", "proj/../../evil.py", "/etc/evil.py", "C:/evil.py",
                                 "proj//a.py", "proj/./a.py", "proj\\..\\a.py", "proj/a\x00.py"])
def test_folder_upload_refuses_bad_paths(alice, platform, bad: str) -> None:  # type: ignore[no-untyped-def]
    home = platform.workspace.home("alice")
    data = {"file": [(io.BytesIO(b"ok"), "good.py"), (io.BytesIO(b"x"), "evil.py")],
            "relative_path": ["safe/good.py", bad]}
    r = alice.post("/api/v1/files/upload", headers={"X-CSRF-Token": alice.csrf}, data=data)
    assert r.status_code in (400, 403), bad
    assert r.get_json()["field"] == "file"
    assert not (home / "safe").exists()  # nothing of a refused upload is written
    assert not (home.parent / "evil.py").exists() and not leftovers(home)


def test_folder_upload_refuses_symlinks_and_mismatch(alice, platform) -> None:  # type: ignore[no-untyped-def]
    home = platform.workspace.home("alice")
    outside = scratch("outside")
    (home / "link").symlink_to(outside)
    h = {"X-CSRF-Token": alice.csrf}
    r = alice.post("/api/v1/files/upload", headers=h,
                   data={"file": [(io.BytesIO(b"x"), "a.py")], "relative_path": ["link/a.py"]})
    assert r.status_code == 403 and "symbolic link" in r.get_json()["error"]
    assert not list(outside.iterdir()) and not leftovers(home)
    r = alice.post("/api/v1/files/upload", headers=h,
                   data={"file": [(io.BytesIO(b"x"), "a.py")], "relative_path": ["a.py", "b.py"]})
    assert r.status_code == 400 and r.get_json()["field"] == "relative_path"
    r = alice.post("/api/v1/files/upload", headers=h,
                   data={"path": "/tmp", "file": [(io.BytesIO(b"x"), "a.py")], "relative_path": ["p/a.py"]})
    assert r.status_code == 403 and r.get_json()["field"] == "path"


# --- zip upload ----------------------------------------------------------------------------

def test_zip_unpacked_as_project(alice, platform) -> None:  # type: ignore[no-untyped-def]
    home = platform.workspace.home("alice")
    h = {"X-CSRF-Token": alice.csrf}
    one_folder = zip_bytes({"zproj/train.py": b"print(1)\n", "zproj/data/a.csv": b"1,2\n",
                            "__MACOSX/zproj/._train.py": b"junk"})
    r = alice.post("/api/v1/files/unzip", headers=h, data={"file": (io.BytesIO(one_folder), "anything.zip")})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["project"] == str(home / "zproj") and r.get_json()["files"] == 2
    assert (home / "zproj" / "data" / "a.csv").read_text() == "1,2\n" and not (home / "__MACOSX").exists()
    loose = zip_bytes({"train.py": b"print(2)\n", "src/util.py": b""})
    r = alice.post("/api/v1/files/unzip", headers=h, data={"file": (io.BytesIO(loose), "flat.zip")})
    assert r.status_code == 201 and r.get_json()["project"] == str(home / "flat")
    assert (home / "flat" / "src" / "util.py").exists()


@pytest.mark.parametrize("entries,links,words", [
    ({"../slip.py": b"x"}, None, "not a plain relative path"),
    ({"ok/../../slip.py": b"x"}, None, "not a plain relative path"),
    ({"/abs/slip.py": b"x"}, None, "absolute path"),
    ({"ok/a.py": b"x"}, {"ok/passwd": "/etc/passwd"}, "symbolic link"),
])
def test_zip_slip_and_links_refused(alice, platform, entries, links, words) -> None:  # type: ignore[no-untyped-def]
    home = platform.workspace.home("alice")
    r = alice.post("/api/v1/files/unzip", headers={"X-CSRF-Token": alice.csrf},
                   data={"file": (io.BytesIO(zip_bytes(entries, links)), "evil.zip")})
    assert r.status_code == 403, r.get_json()
    assert words in r.get_json()["error"] and r.get_json()["field"] == "file"
    assert not (home / "ok").exists() and not (home / "evil").exists() and not leftovers(home)
    assert not (home.parent / "slip.py").exists()


def test_zip_not_a_zip(alice) -> None:  # type: ignore[no-untyped-def]
    h = {"X-CSRF-Token": alice.csrf}
    r = alice.post("/api/v1/files/unzip", headers=h, data={"file": (io.BytesIO(b"not a zip"), "p.zip")})
    assert r.status_code == 400 and "not a readable zip" in r.get_json()["error"]
    r = alice.post("/api/v1/files/unzip", headers=h, data={"file": (io.BytesIO(b"x"), "p.tar")})
    assert r.status_code == 400 and ".zip" in r.get_json()["error"]


def test_size_limits_have_clear_messages() -> None:
    p = make_platform(scratch("limits"))
    p.config.raw.setdefault("portal", {}).update(upload_max_mb=1, upload_max_files=3)
    p.accounts.create("carol", "carolpass1")
    from portal import create_app

    app = create_app(p, settings={"TESTING": True})
    c = app.test_client()
    h = {"X-CSRF-Token": login(c, "carol", "carolpass1")}
    home = p.workspace.home("carol")
    big = b"0" * (1 << 20)
    r = c.post("/api/v1/files/upload", headers=h,
               data={"file": [(io.BytesIO(big), "a.bin"), (io.BytesIO(b"12"), "b.bin")],
                     "relative_path": ["big/a.bin", "big/b.bin"]})
    assert r.status_code == 400 and "larger than 1 MB" in r.get_json()["error"], r.get_json()
    assert "upload_max_mb" in r.get_json()["fix"] and not (home / "big").exists() and not leftovers(home)
    many = {"file": [(io.BytesIO(b""), f"{i}.py") for i in range(4)], "relative_path": [f"m/{i}.py" for i in range(4)]}
    r = c.post("/api/v1/files/upload", headers=h, data=many)
    assert r.status_code == 400 and "at most 3" in r.get_json()["error"]
    # A zip bomb: small on the wire, over the limit unpacked.
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb/zeros.bin", b"\0" * (3 << 20))
    r = c.post("/api/v1/files/unzip", headers=h, data={"file": (io.BytesIO(bomb.getvalue()), "bomb.zip")})
    assert r.status_code == 400 and "the limit is 1 MB" in r.get_json()["error"] and not (home / "bomb").exists()
    # Over the request limit: refused before the body is read, as JSON naming the limit.
    r = c.post("/api/v1/files/upload", headers=h,
               data={"file": [(io.BytesIO(b"0" * (18 << 20)), "huge.bin")]})
    assert r.status_code == 413 and "limits (1 MB, 3 files)" in r.get_json()["error"]


# --- log-in throttling -------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def post_login(client, name: str, password: str, addr: str = "10.0.0.1"):  # type: ignore[no-untyped-def]
    client.get("/login")
    with client.session_transaction() as s:
        token = s["csrf"]
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": addr})


def test_login_locks_account_then_expires(app, platform) -> None:  # type: ignore[no-untyped-def]
    throttle = platform.accounts.throttle
    clock, saved = Clock(), (throttle.policy, throttle.clock)
    throttle.policy = LoginPolicy(max_failures=3, max_failures_per_address=50, lockout_s=60, lockout_max_s=300)
    throttle.clock = clock
    try:
        platform.accounts.create("dave", "davepass12")
        c = app.test_client()
        assert [post_login(c, "dave", "wrong").status_code for _ in range(2)] == [401, 401]
        r = post_login(c, "dave", "wrong")
        assert r.status_code == 429 and r.headers["Retry-After"] == "60"
        assert b"Too many failed log-ins; try again in 60 s" in r.data
        # While locked, even the right password is refused, with the time left.
        clock.now += timedelta(seconds=20)
        r = post_login(c, "dave", "davepass12")
        assert r.status_code == 429 and r.headers["Retry-After"] == "40"
        # Another account from another address is not affected.
        assert post_login(app.test_client(), "alice", "alicepass1", "10.0.0.9").status_code == 302
        clock.now += timedelta(seconds=41)
        assert post_login(c, "dave", "davepass12").status_code == 302
        # The next lock in a row lasts twice as long, and never more than lockout_max_s.
        waits = []
        for _ in range(4):
            for _ in range(3):
                r = post_login(app.test_client(), "dave", "wrong")
            waits.append(int(r.headers["Retry-After"]))
            clock.now += timedelta(seconds=waits[-1] + 1)
        assert waits == [60, 120, 240, 300]
        assert post_login(app.test_client(), "dave", "davepass12").status_code == 302
    finally:
        throttle.policy, throttle.clock = saved


def test_login_locks_address_and_admin_can_unlock(app, platform, admin) -> None:  # type: ignore[no-untyped-def]
    throttle = platform.accounts.throttle
    clock, saved = Clock(), (throttle.policy, throttle.clock)
    throttle.policy = LoginPolicy(max_failures=3, max_failures_per_address=4, lockout_s=30, lockout_max_s=30)
    throttle.clock = clock
    try:
        c = app.test_client()
        codes = [post_login(c, name, "bad", "10.9.9.9").status_code for name in ("x1", "x2", "x3", "x4")]
        assert codes == [401, 401, 401, 429]  # guessing many names from one address
        r = post_login(c, "alice", "alicepass1", "10.9.9.9")
        assert r.status_code == 429 and b"your address" in r.data
        assert post_login(c, "alice", "alicepass1", "10.9.9.8").status_code == 302
        # The administrator locked out of their own account: the lock ends by itself...
        for _ in range(3):
            r = post_login(app.test_client(), "admin", "bad", "10.1.1.1")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) <= 30
        clock.now += timedelta(seconds=31)
        assert post_login(app.test_client(), "admin", "adminpass1", "10.1.1.2").status_code == 302
        # ...and another administrator can lift a lock at once (Users page).
        for _ in range(3):
            post_login(app.test_client(), "alice", "bad", "10.1.1.3")
        page = admin.get("/admin/users").data.decode()
        assert 'id="unlock-alice"' in page
        r = admin.post("/admin/users", data={"csrf_token": admin.csrf, "action": "unlock", "name": "alice"})
        assert r.status_code == 302
        assert post_login(app.test_client(), "alice", "alicepass1", "10.1.1.4").status_code == 302
    finally:
        throttle.policy, throttle.clock = saved


# --- F1/F2 classification, F3 shm default ---------------------------------------------------

def test_classification_only_when_enabled(alice, admin, platform) -> None:  # type: ignore[no-untyped-def]
    work = platform.workspace.home("alice") / "clsproj"
    work.mkdir(exist_ok=True)
    h = {"X-CSRF-Token": alice.csrf}
    job = {"framework": "pytorch", "mode": "standalone", "workdir": str(work), "command": "true",
           "resource_spec": "cpu-1", "name": "cls-job"}
    assert admin.get("/api/v1/settings").get_json()["classification"] is False
    page = alice.get("/apps/training?framework=pytorch").data.decode()
    assert 'id="field-classification"' not in page and "classification" not in \
        json.dumps(alice.get("/api/v1/schema?framework=pytorch").get_json()["properties"])
    r = alice.post("/api/v1/jobs", headers=h, json=dict(job, classification="secret"))
    assert r.status_code == 201 and "classification" not in r.get_json()
    assert "classification" not in r.get_json()["request"]
    off_id = r.get_json()["id"]
    for url in ("/jobs", f"/jobs/{off_id}"):
        assert "Classification" not in alice.get(url).data.decode()

    # The administrator turns it on (Site settings page); alice's own level is "secret".
    assert "Site settings" in admin.get("/").data.decode()
    r = admin.post("/admin/settings", data={"csrf_token": admin.csrf, "classification": "1"})
    assert r.status_code == 302 and 'id="classification-state">on' in admin.get("/admin/settings").data.decode()
    r = admin.post("/admin/users", data={"csrf_token": admin.csrf, "action": "classification", "name": "alice",
                                         "classification": "top-secret"})
    assert r.status_code == 400 and "not a classification level" in r.data.decode()
    admin.post("/admin/users", data={"csrf_token": admin.csrf, "action": "classification", "name": "alice",
                                     "classification": "secret"})
    page = alice.get("/apps/training?framework=pytorch").data.decode()
    assert 'id="field-classification"' in page and '<option value="secret" selected>' in page
    r = alice.post("/api/v1/jobs", headers=h, json=job)
    assert r.status_code == 201 and r.get_json()["classification"] == "secret"  # F2: the owner's level
    on_id = r.get_json()["id"]
    r = alice.post("/api/v1/jobs", headers=h, json=dict(job, classification="nonsense"))
    assert r.status_code == 400 and r.get_json()["errors"][0]["field"] == "classification"
    assert 'id="col-classification"' in alice.get("/jobs").data.decode()
    assert 'id="classification">secret<' in alice.get(f"/jobs/{on_id}").data.decode()
    assert "classification" in platform.services.form_schema(None, "alice")["properties"]
    r = admin.post("/api/v1/settings", headers={"X-CSRF-Token": admin.csrf}, json={"classification": False})
    assert r.status_code == 200 and r.get_json()["classification"] is False
    assert "classification" not in platform.services.form_schema(None, "alice")["properties"]
    assert 'id="col-classification"' not in alice.get("/jobs").data.decode()
    r = alice.post("/api/v1/settings", headers=h, json={"classification": True})
    assert r.status_code == 403


def test_shm_default_from_daemon_json(platform, alice) -> None:  # type: ignore[no-untyped-def]
    assert [docker_size_mb(v) for v in ("64m", "1g", "1G", "512MB", 67108864, "2gib", "abc", True, None, "0")] == \
        [64, 1024, 1024, 512, 64, 2048, None, None, None, None]
    d = scratch("docker")
    daemon = d / "daemon.json"
    core = platform.config.raw.setdefault("core", {})
    saved = core.get("docker_daemon_config")
    core["docker_daemon_config"] = str(daemon)
    try:
        assert platform.settings.default_shm_mb() is None  # no file: the runtime's own default
        assert "default" not in platform.jobs.form_schema("pytorch")["properties"]["shm_mb"]
        daemon.write_text(json.dumps({"default-shm-size": "2g", "log-driver": "json-file"}))
        assert platform.jobs.form_schema("pytorch")["properties"]["shm_mb"]["default"] == 2048
        assert platform.services.form_schema(None, "alice")["properties"]["shm_mb"]["default"] == 2048
        page = alice.get("/apps/training?framework=pytorch").data.decode()
        assert 'name="shm_mb" inputmode="numeric" value="2048"' in page
        for broken in ("{not json", json.dumps(["list"]), json.dumps({"default-shm-size": "lots"}), "\xff"):
            daemon.write_bytes(broken.encode("latin-1"))
            assert platform.settings.default_shm_mb() is None, broken
        assert alice.get("/apps/training?framework=pytorch").status_code == 200
    finally:
        if saved is None:
            core.pop("docker_daemon_config", None)
        else:
            core["docker_daemon_config"] = saved


def test_admin_pages_offer_node_groups_and_settings(admin) -> None:  # type: ignore[no-untyped-def]
    """F8: the spec form suggests the node groups the schedulers map (etc/hpcai.toml)."""
    page = admin.get("/admin/specs").data.decode()
    assert '<datalist id="node-groups"><option value="tesla">' in page
    assert 'href="/admin/settings"' in page


def test_cli_unlock(platform, data_dir) -> None:  # type: ignore[no-untyped-def]
    """The head node's shell can lift a lock even when no administrator can log in."""
    import os
    import subprocess
    import sys

    from core.accounts import TooManyAttempts
    from core.errors import HpcaiError

    platform.accounts.create("erin", "erinpass12")
    for _ in range(5):
        try:
            platform.accounts.login("erin", "wrong", "10.7.7.7")
        except HpcaiError as exc:  # the fifth is the lock
            last = exc
    assert isinstance(last, TooManyAttempts) and "erin" in platform.accounts.throttle.locked_accounts()
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, HPCAI_DATA_DIR=str(data_dir))
    run = subprocess.run([sys.executable, "-m", "cli.main", "unlock", "erin"], cwd=repo, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == (0 if os.getuid() == 0 else 2), run.stderr
    if os.getuid() == 0:
        assert "erin" not in platform.accounts.throttle.locked_accounts()
        assert platform.accounts.login("erin", "erinpass12", "10.7.7.7").name == "erin"


def test_uploads_belong_to_the_unix_account(app, platform) -> None:  # type: ignore[no-untyped-def]
    """A portal login that is also a Unix account owns what it uploads (the portal runs as root)."""
    import os
    import pwd
    import subprocess

    if os.getuid() != 0:
        pytest.skip("needs root (useradd, the portal as root)")
    name = "iso-upload"  # a real Unix user made by the harness (system accounts never stand for users)
    if not _unix(name):
        subprocess.run(["useradd", "--create-home", "--user-group", name], check=True, timeout=30)
    platform.accounts.create(name, "unixpass12")
    c = app.test_client()
    csrf = login(c, name, "unixpass12")
    data = {"file": [(io.BytesIO(b"x"), "a.py")], "relative_path": ["owned/sub/a.py"]}
    r = c.post("/api/v1/files/upload", headers={"X-CSRF-Token": csrf}, data=data)
    assert r.status_code == 201, r.get_json()
    uid = pwd.getpwnam(name).pw_uid
    project = Path(r.get_json()["project"])
    assert [p.stat().st_uid for p in (project, project / "sub", project / "sub" / "a.py")] == [uid] * 3


def _unix(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
