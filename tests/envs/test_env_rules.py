"""Development environments' rules (issue 17, F12-F22), in process on a real store: each bad
field is refused with its name and a fix, a refused create leaves nothing behind, Modify waits
for a restart, and RStudio's and VS Code's plans are pinned (golden) and refused where their
servers are absent."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from core.api import Image, ServiceContext
from core.config import load_config
from core.environments import ssh
from core.environments.models import EnvironmentRow
from core.errors import HpcaiError, ValidationErrors
from core.platform import Platform
from core.store import ServiceRow

GOLDEN = Path(__file__).with_name("golden")


@pytest.fixture
def p(tmp_path: Path) -> Platform:
    plat = Platform(load_config({"HPCAI_DATA_DIR": str(tmp_path)}))
    plat.store.migrate()
    plat.accounts.create("alice", "alicepass12")
    # a catalog with one JupyterLab image, one plain image and one with sshd (tagged SSH)
    plat.images.images[:] = [
        Image("lab", "host", "/usr", tags=["JupyterLab"]), Image("plain", "host", "/usr", tags=["PyTorch"]),
        Image("sshbox", "host", "/usr", tags=["SSH"])]
    return plat


def fields(exc: HpcaiError) -> dict[str, str]:
    errs = exc.errors if isinstance(exc, ValidationErrors) else [exc]
    return {e.field or "": f"{e.message} | {e.fix}" for e in errs}


def counts(p: Platform) -> tuple[int, int]:
    with p.store.session() as s:
        return s.query(EnvironmentRow).count(), s.query(ServiceRow).count()


def test_types_and_schema(p: Platform) -> None:
    envs = p.environments
    assert list(envs.types()) == ["jupyterlab", "vscode", "rstudio", "desktop", "webterminal"]
    schema = envs.form_schema("alice", "jupyterlab")
    assert schema["properties"]["name"]["default"] == "jupyterlab-1"  # F12: an unused name
    assert schema["properties"]["image"]["enum"] == ["lab"]  # F13: filtered by the type's tag
    assert envs.form_schema("alice", "webterminal")["properties"]["image"]["enum"] == ["lab", "plain", "sshbox"]
    # My services does not offer them, and refuses them
    assert "jupyterlab" not in p.services.types()
    with pytest.raises(HpcaiError) as e:
        p.services.create({"name": "x", "type": "jupyterlab", "resource_spec": "cpu-1"}, "alice")
    assert e.value.field == "type" and "envs create" in (e.value.fix or "")


def test_each_bad_field_is_named_with_its_fix(p: Platform) -> None:
    envs = p.environments
    envs.create({"type": "webterminal", "name": "t1", "resource_spec": "cpu-1"}, "alice", start=False)
    with pytest.raises(ValidationErrors) as e:
        envs.create({"type": "jupyterlab", "name": "t1", "resource_spec": "cpu-1", "image": "plain",
                     "ports": [80, 70000, 80], "mounts": ["data:/data"], "workdir": "rel/dir",
                     "shm_mb": "lots", "bogus": 1}, "alice", start=False)
    got = fields(e.value)
    assert "already have an environment named 't1'" in got["name"] and "jupyterlab-1" in got["name"]
    assert "no 'JupyterLab' tag" in got["image"] and "lab" in got["image"]
    assert "port 70000 is out of range" in got["ports"] or "given twice" in got["ports"]
    assert "relative path" in got["mounts"] and "absolute" in got["mounts"]
    assert "relative path" in got["workdir"]
    assert "not a size in MB" in got["shm_mb"]
    assert "bogus" in got
    # no name: the pre-filled available one (F12)
    assert envs.create({"type": "webterminal", "resource_spec": "cpu-1"}, "alice", start=False).name == "webterminal-1"
    assert counts(p) == (2, 2)  # nothing of the refused one was made
    with pytest.raises(ValidationErrors) as e:
        envs.create({"type": "webterminal", "name": "t2", "resource_spec": "cpu-1", "ports": "8080,8080"},
                    "alice", start=False)
    assert "port 8080 is given twice" in fields(e.value)["ports"]
    with pytest.raises(ValidationErrors) as e:
        envs.create({"type": "webterminal", "name": "t2", "resource_spec": "nope"}, "alice", start=False)
    assert "unknown resource spec 'nope'" in fields(e.value)["resource_spec"]


def test_ssh_rules(p: Platform) -> None:
    envs = p.environments
    # F22: a Web terminal may switch SSH on only on an image that runs sshd (tagged SSH)
    with pytest.raises(ValidationErrors) as e:
        envs.create({"type": "webterminal", "name": "s1", "resource_spec": "cpu-1", "image": "plain",
                     "ssh": True}, "alice", start=False)
    assert "has no sshd" in fields(e.value)["ssh"] and "tagged SSH" in fields(e.value)["ssh"]
    assert counts(p) == (0, 0)
    # on an image tagged SSH (or the node install) it is on: a login made once, kept sealed, and the
    # start plan puts envrun's sshd in front of the terminal on one more allocated port
    row = envs.create({"type": "webterminal", "name": "s1", "resource_spec": "cpu-1", "image": "sshbox",
                       "ssh": True, "ports": "8080"}, "alice", start=False)
    svc = p.services.get(row.service_alias, "alice")
    opts = p.services.type_options(svc)
    assert re.fullmatch(r"alice-[a-z0-9]{8}", opts["ssh_login"]) and opts["ssh_password_hash"].startswith("$6$")
    with p.store.session() as s:
        stored = s.get(EnvironmentRow, row.id)
        assert stored.ssh_login == opts["ssh_login"] and "password" not in (stored.ssh_secret or "password")
        password = p.datasets.box.open(stored.ssh_secret)["password"]
    assert ssh.verify_password(password, opts["ssh_password_hash"])
    plan = envs.type("webterminal").start_plan(opts, ServiceContext("a", "alice", "/j", "/b"))
    assert plan.ports == 3 and plan.env["HPCAI_ENV_PORT_8080"] == "{port1}" and plan.env["HPCAI_SSH_PORT"] == "{port2}"
    at = plan.argv.index(str(ssh.ENVRUN))
    assert plan.argv[:at] == ["python3"] and plan.env[ssh.HASH_ENV] == opts["ssh_password_hash"]
    assert "$6$" not in " ".join(plan.argv)  # the command line is shown; the hash stays in the env
    assert plan.argv[at + 1:at + 5] == ["--port", "{port2}", "--login", opts["ssh_login"]]
    assert plan.argv[plan.argv.index("--bind") + 1] == "{listen}" and password not in " ".join(plan.argv)
    assert plan.argv[plan.argv.index("--") + 1:][:1] == ["{python}"]  # then the terminal's own server
    # a restart keeps the login (the user's ssh config stays right)
    again = envs._service_values(row.id, "webterminal", {**row.values})
    assert again["ssh_login"] == opts["ssh_login"]


def test_modify_waits_for_restart_and_fixed_fields(p: Platform) -> None:
    envs = p.environments
    row = envs.create({"type": "webterminal", "name": "m1", "resource_spec": "cpu-1"}, "alice", start=False)
    row = envs.modify("m1", {"ports": [8888], "description": "later"}, "alice")
    assert row.pending and row.pending["ports"] == [8888] and row.values["ports"] == []  # F21
    view = envs.view(row)
    assert view.pending is not None and view.state == "stopped" and not view.can_connect
    with pytest.raises(HpcaiError) as e:
        envs.modify("m1", {"type": "jupyterlab"}, "alice")
    assert e.value.field == "type"
    with pytest.raises(ValidationErrors) as e:
        envs.modify("m1", {"ports": [0]}, "alice")
    assert "out of range" in fields(e.value)["ports"]
    # another user sees nothing
    with pytest.raises(HpcaiError) as e:
        envs.get(row.id, "bob")
    assert e.value.field == "environment"
    # its service deleted from My services: the environment makes a new one, nothing breaks
    old = envs.get("m1", "alice").service_alias
    p.services.delete(old, "alice")
    view = envs.view(envs.get("m1", "alice"))
    assert view.alias and view.alias != old and view.state == "stopped"
    envs.delete("m1", "alice")
    assert counts(p) == (0, 0)


def test_start_plan_has_custom_ports_and_mounts(p: Platform) -> None:
    st = p.environments.type("webterminal")
    ctx = ServiceContext(alias="a", user="alice", job_dir="{job_dir}", base_path="/dockerService/a")
    plan = st.start_plan({"ports": [8080, 6006], "mounts": [{"source": "/data", "target": "/d", "readonly": True}],
                          "workdir": "/work/x"}, ctx)
    assert plan.ports == 3 and plan.env["HPCAI_ENV_PORT_8080"] == "{port1}" and plan.env["HPCAI_ENV_PORT_6006"] == "{port2}"
    assert plan.cwd == "/work/x" and plan.mounts[0].mount_point == "/d" and plan.mounts[0].readonly
    lab = p.environments.type("jupyterlab").start_plan({}, ctx)
    assert lab.native_auth and lab.env["JUPYTER_TOKEN"] == "{secret}"
    assert not any("{secret}" in a for a in lab.argv)  # the token is never on the command line


def test_rstudio_golden_plan_and_refusal(p: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    st = p.environments.type("rstudio")
    ctx = ServiceContext(alias="rstudio-alice-1", user="alice", job_dir="{job_dir}",
                         base_path="/dockerService/rstudio-alice-1")
    monkeypatch.setattr(type(st), "check_available", lambda self: None)  # render it as a site with rserver would
    plan = st.start_plan({}, ctx)
    got = json.dumps({"argv": plan.argv, "env": plan.env, "files": plan.files, "ports": plan.ports,
                      "native_auth": plan.native_auth, "health_path": plan.health_path}, indent=1, sort_keys=True)
    golden = GOLDEN / "rstudio_plan.json"
    if not golden.exists():  # a new golden file is reviewed, never taken for granted
        golden.write_text(got + "\n")
        pytest.fail(f"wrote {golden}: review it and commit it")
    assert got + "\n" == golden.read_text()
    assert not plan.native_auth  # behind svcrun's gate
    monkeypatch.undo()
    if shutil.which("rserver") is not None:
        pytest.skip("this machine has rserver")
    with pytest.raises(HpcaiError) as e:
        p.environments.create({"type": "rstudio", "name": "r1", "resource_spec": "cpu-1"}, "alice")
    assert e.value.field == "type" and "rserver" in e.value.message
    assert counts(p) == (0, 0)  # the refused start removed what create made


def test_vscode_golden_plan_and_refusal(p: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import plugins.environments.vscode as vscode

    if shutil.which("node", path="/usr/bin:/bin") is None:
        pytest.skip("no node in /usr/bin (scripts/setup.sh installs Debian's nodejs)")
    st = p.environments.type("vscode")
    ctx = ServiceContext(alias="vscode-alice-1", user="alice", job_dir="{job_dir}",
                         base_path="/dockerService/vscode-alice-1")
    monkeypatch.delenv("HPCAI_CODE_SERVER", raising=False)
    entry = tmp_path / "code-server" / "out" / "node" / "entry.js"  # where setup.sh installs it, elsewhere
    entry.parent.mkdir(parents=True)
    entry.touch()
    monkeypatch.setattr(vscode, "ENTRY", entry)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # a node, no code-server of the site's
    plan = st.start_plan({}, ctx)
    rules = st.proxy_rules({})
    got = json.dumps({"argv": plan.argv, "env": plan.env, "files": plan.files, "ports": plan.ports,
                      "native_auth": plan.native_auth, "health_path": plan.health_path,
                      "strip_prefix": rules.strip_prefix, "secret_headers": rules.secret_headers},
                     indent=1, sort_keys=True).replace(str(shutil.which("node")), "<node>").replace(str(tmp_path), "<server>")
    golden = GOLDEN / "vscode_plan.json"
    if not golden.exists():  # a new golden file is reviewed, never taken for granted
        golden.write_text(got + "\n")
        pytest.fail(f"wrote {golden}: review it and commit it")
    assert got + "\n" == golden.read_text()
    assert plan.native_auth and not any("{secret}" in a for a in plan.argv)  # its own password, never in argv
    monkeypatch.undo()
    monkeypatch.delenv("HPCAI_CODE_SERVER", raising=False)
    monkeypatch.setattr(vscode, "ENTRY", tmp_path / "none" / "entry.js")  # setup.sh did not install it
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(HpcaiError) as e:
        p.environments.create({"type": "vscode", "name": "c1", "resource_spec": "cpu-1"}, "alice")
    assert e.value.field == "type" and "code-server" in e.value.message and "setup.sh" in e.value.message
    assert counts(p) == (0, 0)


def test_a_refused_start_removes_what_create_made(p: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever refuses the start after the rows exist (here the services layer, as a full
    cluster or a vanished image would), create leaves neither environment nor service."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise HpcaiError("the scheduler refused the job", field="resource_spec", fix="choose a smaller spec")

    monkeypatch.setattr(p.services, "relaunch", refuse)
    with pytest.raises(HpcaiError) as e:
        p.environments.create({"type": "webterminal", "name": "w1", "resource_spec": "cpu-1"}, "alice")
    assert e.value.field == "resource_spec"
    assert counts(p) == (0, 0)
    assert p.environments.suggest_name("alice", "webterminal") == "webterminal-1"


def test_every_type_gets_the_portal_url_and_token_in_its_env_only(tmp_path: Path) -> None:
    """Issue 17 item 4: jsub/jjobs/hpcai in every environment's terminal (cli/remote.py)."""
    from core.api import ServiceContext
    from core.config import load_config
    from core.platform import Platform

    p = Platform(load_config({"HPCAI_DATA_DIR": str(tmp_path)}))
    ctx = ServiceContext(alias="a1", user="alice", job_dir="{job_dir}", base_path="/dockerService/a1")
    checked = []
    for name, st in p.environments.types().items():
        if st.check_available():
            continue  # e.g. RStudio where rserver is absent: refused before any plan
        plan = st.start_plan({"api_token": "hpcai_secret-token", "portal_url": "http://portal:8080",
                              "workdir": str(tmp_path)}, ctx)
        assert plan.env["HPCAI_API_TOKEN"] == "hpcai_secret-token" and plan.env["HPCAI_PORTAL_URL"] == "http://portal:8080"
        assert "HPCAI_BIN" in plan.env["PROMPT_COMMAND"]
        assert not any("hpcai_secret-token" in a for a in plan.argv), name
        checked.append(name)
    assert {"jupyterlab", "webterminal"} <= set(checked), checked
