"""Jobs in real podman containers (issue 14): the built-in PyTorch container image (built by the
repository: debootstrap + PyPI, cached by its definition's hash), DDP with identical parameters,
a Slurm job in a container, a user's Containerfile built as a job, a running container saved as
an image and run again, push to a real registry (tests/services/registry.sh) and pull into a
second podman storage root, and the refusals: missing image, unknown runtime, malformed
reference, a mount outside the user's roots, a failing Containerfile, a container that cannot
start."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.frameworks.conftest import REPO, Site

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = REPO / "examples"
PODMAN_ENV = {**os.environ, "CONTAINERS_CONF": str(REPO / "etc" / "podman" / "containers.conf")}


def podman(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                          env=env or PODMAN_ENV, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def ct_site(tmp_path_factory, container_image: str) -> Site:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("containers")
    registry = os.environ.get("HPCAI_TEST_REGISTRY", "")
    extra = (f'[portal]\nroots = ["{root}"]\n\n[images]\nregistry = "{registry}"\n'
             f'registry_aliases = {{"192.168.0.153:5000" = "{registry}"}}\n')
    s = Site(root, extra=extra)
    yield s
    s.close()


def ddp_values(site: Site, name: str, image: str = "pytorch-container") -> dict:
    project = site.project(name, EXAMPLES / "pytorch" / "ddp_train.py")
    return {"framework": "pytorch", "mode": "ddp", "image": image, "instances": 2, "resource_spec": "cpu-1",
            "workdir": str(project), "command": "python ddp_train.py --steps 10"}


def leftover_containers(row) -> list[str]:  # type: ignore[no-untyped-def]
    out = podman("ps", "-a", "--filter", f"name=^hpcai-{Path(row.job_dir).name[:12]}-", "--format", "{{.Names}}")
    return out.stdout.split()


def test_ddp_two_ranks_in_podman_identical_parameters(ct_site: Site) -> None:
    row = ct_site.run(ddp_values(ct_site, "ddp"), timeout=300)
    log = ct_site.log(row)
    assert row.state == "succeeded", log
    assert row.runtime == "podman"  # chosen by the image
    work = Path(row.request["workdir"])
    r0, r1 = (json.loads((work / f"ddp_result.{r}.json").read_text()) for r in (0, 1))
    assert (r0["rank"], r1["rank"], r0["world_size"]) == (0, 1, 2)
    assert r0["params"] == r1["params"] and r0["param_sum"] == r1["param_sum"]
    # every rank in its own container of the image, removed when the rank ended
    plan = json.loads((Path(row.job_dir) / "plan.json").read_text())
    assert plan["roles"][0]["argv"][1].endswith("plugins/runtimes/podman")
    assert leftover_containers(row) == []


def test_tensorflow_ps_in_podman(ct_site: Site, tf_container_image: str) -> None:
    """1 parameter server + 2 workers (and TF's chief), each task in its own container."""
    project = ct_site.project("tfps", EXAMPLES / "tensorflow" / "ps_train.py")
    row = ct_site.run({"framework": "tensorflow", "mode": "ps", "image": "tensorflow-container", "servers": 1,
                       "workers": 2, "server_spec": "cpu-1", "worker_spec": "cpu-1", "workdir": str(project),
                       "command": "python ps_train.py"}, timeout=600)
    log = ct_site.log(row)
    assert row.state == "succeeded", log
    res = json.loads((project / "result.json").read_text())
    assert res["last_loss"] < res["first_loss"] and (res["ps"], res["workers"]) == (1, 2), res
    assert "stopping the server, worker rank(s)" in log
    assert leftover_containers(row) == []  # the stopped server's container too


def test_job_on_slurm_runs_in_a_container(tmp_path_factory, slurm_conf: str, container_image: str) -> None:
    root = tmp_path_factory.mktemp("slurm-containers")
    site = Site(root, scheduler="slurm", extra=f'[schedulers.slurm]\nslurm_conf = "{slurm_conf}"\n')
    try:
        project = site.project("probe")
        row = site.run({"framework": "pytorch", "image": "pytorch-container", "resource_spec": "cpu-1",
                        "workdir": str(project), "command":
                        "python -c \"import os, torch; print('in', open('/etc/os-release').readline().strip(), "
                        "'slurm job', os.environ.get('SLURM_JOB_ID'), 'spooler', os.environ['JH_SPOOLER'])\""},
                       timeout=300)
        log = site.log(row)
        assert row.state == "succeeded", log
        assert 'in PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' in log
        assert f"slurm job {row.scheduler_job_id}" in log and f"spooler {row.job_dir}" in log
    finally:
        site.close()


def test_missing_image_and_bad_input_are_refused_before_submission(ct_site: Site, tmp_path: Path) -> None:
    before = len(ct_site.platform.jobs.list(os.environ.get("USER", "root"), all_users=True))
    project = ct_site.project("bad")
    base = ["submit", "--framework", "pytorch", "--resource-spec", "cpu-1", "--workdir", str(project)]
    catalog = tmp_path / "images.toml"
    catalog.write_text('[[image]]\nname = "gone"\nruntime = "podman"\nreference = "localhost/hpcai/gone:1"\n'
                       'tags = ["PyTorch"]\nframeworks = ["pytorch"]\n')
    gone = subprocess.run([str(Path(os.sys.executable)), "-m", "cli.main", *base, "--image", "gone", "--", "true"],
                          cwd=REPO, text=True, capture_output=True, timeout=120,
                          env={**os.environ, **ct_site.env, "HPCAI_IMAGES": str(catalog)})
    assert gone.returncode == 2 and "not in podman's storage" in gone.stderr and "hpcai images pull" in gone.stderr
    cases = {
        ("--runtime", "singularity-pro"): "runtime",
        ("--image", "Bad Image:tag"): "image",
        ("--image", "pytorch-container", "--mount", "/etc"): "outside your directories",
    }
    for args, needle in cases.items():
        r = ct_site.hpcai(*base, *args, "--", "true")
        assert r.returncode == 2 and needle in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    bad = tmp_path / "Containerfile"
    bad.write_text("FROM localhost/hpcai/python-container:latest\nRUNN echo hi\n")
    r = ct_site.hpcai("images", "build", "u/bad:1", "--file", str(bad))
    assert r.returncode == 2 and "containerfile: line 2: unknown instruction RUNN" in r.stderr, r.stderr
    after = len(ct_site.platform.jobs.list(os.environ.get("USER", "root"), all_users=True))
    assert after == before  # nothing was created
    assert "u/bad:1" not in ct_site.hpcai("images", "list", "--scope", "mine").stdout


def test_container_that_cannot_start_fails_with_the_engines_message(ct_site: Site) -> None:
    """The image was there at submit (checked) and gone when the rank started: podman's own error."""
    from core.users import current_user

    assert podman("tag", "localhost/hpcai/python-container:latest", "localhost/hpcai/doomed:1").returncode == 0
    assert ct_site.hpcai("images", "tag", "localhost/hpcai/doomed:1", "u1/doomed:1").returncode != 0  # not catalogued
    ct_site.platform.containers._add(current_user(), "u1/doomed:1", "localhost/hpcai/doomed:1", "tag")
    jobs = ct_site.platform.jobs
    project = ct_site.project("nostart")
    req = jobs.request_from_values({"framework": "pytorch", "image": "u1/doomed:1", "resource_spec": "cpu-1",
                                    "workdir": str(project), "command": "true"}, current_user(), source="cli")
    prep = jobs.prepare(req)
    assert podman("rmi", "localhost/hpcai/doomed:1").returncode == 0
    row = ct_site.wait(jobs.submit_prepared(prep), timeout=120)
    log = ct_site.log(row)
    assert row.state == "failed", log
    assert "localhost/hpcai/doomed:1: image not known" in log, log
    assert "podman could not start the container (exit 125)" in log
    assert leftover_containers(row) == []


def _wait_image(site: Site, name: str, timeout: float = 600) -> dict:
    end = time.time() + timeout
    while time.time() < end:
        listed = json.loads(site.hpcai("images", "list", "--scope", "mine", "--json").stdout)["images"]
        mine = {i["name"]: i for i in listed}
        if mine.get(name, {}).get("state") in ("ready", "failed"):
            return mine[name]
        time.sleep(1)
    raise AssertionError(f"image {name} still building after {timeout} s")


def test_build_save_push_pull_and_run(ct_site: Site, tmp_path: Path) -> None:
    # 1. a user's Containerfile, built as a scheduler job (its log is podman's)
    # (on the small Python base image: the registry round trip below moves all of its layers)
    r = ct_site.hpcai("images", "build", "u1/greeter:v1", "--file", str(EXAMPLES / "containers" / "Containerfile"),
                      "--tags", "PyTorch", "--frameworks", "pytorch")
    assert r.returncode == 0, r.stderr
    built = _wait_image(ct_site, "u1/greeter:v1")
    assert built["state"] == "ready" and built["reference"] == "localhost/u1/greeter:v1", built
    # 2. a job from it, saved while it runs (podman commit) into My images, then a job from the saved image
    project = ct_site.project("save")
    row = ct_site.submit({"framework": "pytorch", "image": "u1/greeter:v1", "resource_spec": "cpu-1",
                          "workdir": str(project), "command":
                          "bash -c 'echo saved-state > /opt/state.txt; cat /opt/greeting.txt; sleep 60'"})
    end = time.time() + 120
    while time.time() < end:
        saved = ct_site.hpcai("images", "save", str(row.id), "u1/greeter-saved:v1")
        if saved.returncode == 0 or "no running container" not in saved.stderr:
            break
        time.sleep(0.5)
    assert saved.returncode == 0, saved.stderr
    assert ct_site.hpcai("kill", str(row.id)).returncode == 0
    again = ct_site.run({"framework": "pytorch", "image": "u1/greeter-saved:v1", "resource_spec": "cpu-1",
                         "workdir": str(project), "command": "cat /opt/state.txt /opt/greeting.txt"}, timeout=120)
    log = ct_site.log(again)
    assert again.state == "succeeded" and "saved-state" in log and "hello from a user's Containerfile" in log, log
    # 3. one list with tag counts and keyword search (F99)
    found = json.loads(ct_site.hpcai("images", "list", "--keyword", "greeter", "--json").stdout)
    assert {i["name"] for i in found["images"]} == {"u1/greeter:v1", "u1/greeter-saved:v1"}
    assert found["tag_counts"] == {"PyTorch": 1}
    # 4. push to the registry under the product's reference, pull into a second storage root, run from it
    registry = os.environ.get("HPCAI_TEST_REGISTRY")
    if not registry:
        pytest.skip("no test registry (tests/services/registry.sh; scripts/test.sh starts it)")
    pushed = ct_site.hpcai("images", "push", "u1/greeter:v1", "192.168.0.153:5000/jhinno/greeter:v1")
    assert pushed.returncode == 0 and f"{registry}/jhinno/greeter:v1" in pushed.stdout, pushed.stderr
    storage = tmp_path / "storage.conf"
    storage.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{tmp_path}/graph"\nrunroot = "{tmp_path}/run"\n')
    second = {"CONTAINERS_STORAGE_CONF": str(storage)}
    os.environ.update(second)  # the site's jobs and CLI now use the second storage root
    try:
        pulled = ct_site.hpcai("images", "pull", "192.168.0.153:5000/jhinno/greeter:v1", "--name", "u1/pulled:v1")
        assert pulled.returncode == 0, pulled.stderr
        assert podman("image", "exists", f"{registry}/jhinno/greeter:v1", env={**PODMAN_ENV, **second}).returncode == 0
        row = ct_site.run({"framework": "pytorch", "image": "u1/pulled:v1", "resource_spec": "cpu-1",
                           "workdir": str(project), "command": "cat /opt/greeting.txt"}, timeout=120)
        assert row.state == "succeeded" and "hello from a user's Containerfile" in ct_site.log(row), ct_site.log(row)
    finally:
        for k in second:
            os.environ.pop(k, None)
    for name in ("u1/pulled:v1", "u1/greeter-saved:v1"):
        assert ct_site.hpcai("images", "rm", name).returncode == 0
