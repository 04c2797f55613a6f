"""The identity model (core/identity.py): which Unix user an account's code runs as, or why not.

Real NSS lookups on this machine (root, daemon, and users the harness creates with useradd)."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import PermissionDenied
from core.identity import AUTO_MARK, IdentityMap, IdentitySettings, NoUnixAccount, RunAs, job_base_env

REPO = Path(__file__).resolve().parents[2]
as_root = pytest.mark.skipif(os.getuid() != 0, reason="needs root (useradd, switching users)")


def ids(**kw: object) -> IdentityMap:
    return IdentityMap(IdentitySettings(**kw))  # type: ignore[arg-type]


def unix_user(name: str, comment: str = "") -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--user-group", "--comment", comment, name],
                       check=True, capture_output=True, timeout=30)
        return pwd.getpwnam(name)


def test_the_cli_caller_runs_as_itself() -> None:
    me = pwd.getpwuid(os.getuid())
    assert ids().for_job(me.pw_name, "cli").uid == os.getuid()


@as_root
def test_mapping_order_site_map_then_file_then_same_name(tmp_path: Path) -> None:
    unix_user("iso-unit-a")
    unix_user("iso-unit-b")
    mapfile = tmp_path / "map"
    mapfile.write_text("# account unix\ncarol iso-unit-b\nann iso-unit-b\n")
    m = ids(map={"ann": "iso-unit-a"}, map_file=mapfile)
    assert m.for_job("ann", "portal").name == "iso-unit-a"  # [identity] map wins
    assert m.for_job("carol", "portal").name == "iso-unit-b"  # then the map file
    assert m.for_job("iso-unit-a", "portal").name == "iso-unit-a"  # then the same name
    run_as = m.for_job("iso-unit-b", "api")
    assert run_as.gid in run_as.groups and RunAs.from_dict(run_as.as_dict()) == run_as


@as_root
def test_no_unix_account_and_system_accounts_are_refused_with_a_fix_for_the_admin() -> None:
    with pytest.raises(NoUnixAccount) as err:
        ids().for_job("nobody-has-this-account", "portal")
    assert isinstance(err.value, PermissionDenied) and err.value.field == "user"
    assert "auto_create" in err.value.fix and "map" in err.value.fix
    for target in ("root", "daemon"):  # a portal account never runs as a system user
        with pytest.raises(NoUnixAccount, match="system account"):
            ids(map={"mallory": target}).for_job("mallory", "portal")
    with pytest.raises(NoUnixAccount):  # nor does "root" through the portal, only through the CLI
        ids().for_job("root", "portal")


@as_root
def test_auto_create_makes_one_unprivileged_user_per_account_and_never_takes_over_another() -> None:
    m = ids(auto_create=True, auto_prefix="isou-")
    first = m.for_job("dora", "portal")
    assert (first.name, pwd.getpwnam("isou-dora").pw_gecos) == ("isou-dora", f"{AUTO_MARK} dora")
    assert first.uid >= 1000 and m.for_job("dora", "portal") == first  # created once
    unix_user("isou-eve", comment="a real person")
    with pytest.raises(NoUnixAccount, match="not created for account"):
        m.for_job("eve", "portal")
    long = m.auto_name("a" * 32)
    assert len(long) <= 32 and long.startswith("isou-")


@as_root
def test_a_non_root_platform_runs_only_its_own_users_account() -> None:
    """The single-user embedded default: the portal as iso-unit-a may run iso-unit-a's jobs only."""
    unix_user("iso-unit-a")
    code = ("from core.identity import IdentityMap, IdentitySettings, NoUnixAccount\n"
            "m = IdentityMap(IdentitySettings())\n"
            "print(m.for_job('iso-unit-a', 'portal').name)\n"
            "print(IdentityMap(IdentitySettings(map={'admin': 'iso-unit-a'})).for_job('admin', 'api').name)\n"
            "try:\n    m.for_job('admin', 'portal')\nexcept NoUnixAccount as e:\n    print('refused:', e.fix)\n")
    out = subprocess.run(["runuser", "-u", "iso-unit-a", "--", sys.executable, "-c", code], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:2] == ["iso-unit-a", "iso-unit-a"] and lines[2].startswith("refused: map 'admin'"), lines


def test_a_jobs_environment_starts_without_the_platforms_secrets() -> None:
    run_as = RunAs(name="u", uid=4242, gid=4242, home="/home/u")
    env = job_base_env(run_as, {"PATH": "/bin", "HPCAI_DB_URL": "postgresql://x:pw@db/h", "PGPASSWORD": "pw",
                                "HPCAI_ADMIN_PASSWORD": "pw", "MLFLOW_TRACKING_TOKEN": "t", "AWS_SECRET_ACCESS_KEY": "k",
                                "HOME": "/root", "USER": "root", "LANG": "C.UTF-8"})
    assert env == {"PATH": "/bin", "LANG": "C.UTF-8", "HOME": "/home/u", "USER": "u", "LOGNAME": "u",
                   "SHELL": "/bin/bash"}


def test_the_map_read_backwards_gives_the_cli_callers_account(tmp_path: Path) -> None:
    mapfile = tmp_path / "map"
    mapfile.write_text("asmith alice\n")
    m = ids(map={"jdoe": "john"}, map_file=mapfile)
    assert (m.account_of("john"), m.account_of("alice"), m.account_of("zed")) == ("jdoe", "asmith", "zed")
