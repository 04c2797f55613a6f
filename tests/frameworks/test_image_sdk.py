"""libaiflow in every framework image (spec F87): a job of each built image logs through
libaiflow and the metric is read back from the real MLflow server; the builder's plan gives
libaiflow and the server's MLflow client to every catalog image that has a build spec."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.envbuild import SDK_DIR, SDK_REQUIREMENTS, SDK_SOURCE, env_path, expose_sdk, sdk_requirements
from core.images import CONSTRAINTS, ImageCatalog
from tests.frameworks.conftest import HERE, REPO, Site
from tests.tracking import rest

CATALOG = REPO / "etc" / "images.toml"
# image -> (framework, mode, the module its job imports beside libaiflow); pytorch-horovod has
# its own test (its build is the long one: tests using horovod_image run last)
JOBS = {"tensorflow": ("tensorflow", "standalone", "tensorflow"), "paddle": ("paddle", "standalone", "paddle"),
        "mindspore": ("mindspore", "standalone", "mindspore"), "mxnet": ("mxnet", "standalone", "mxnet"),
        "deepspeed": ("deepspeed", "deepspeed", "deepspeed")}


def test_every_buildable_image_gets_libaiflow_and_the_servers_mlflow_client(tmp_path: Path) -> None:
    cat = ImageCatalog(CATALOG, REPO, tmp_path / "images")
    buildable = [i for i in cat.images if i.build]
    assert {i.name for i in buildable} >= set(JOBS) | {"pytorch-horovod", "mlserver"}
    server = re.search(r"^mlflow==(\S+)$", CONSTRAINTS.read_text(), re.M)
    assert server and SDK_REQUIREMENTS == (f"mlflow-skinny=={server.group(1)}",)  # client == server
    for image in buildable:
        reqs = sdk_requirements(image)
        # the image's own pins and the SDK's in one resolve: pip must honour both or fail
        assert reqs == list(image.build.get("requirements", [])) + ["mlflow-skinny==" + server.group(1)], image.name
    # the SDK is part of every image's hash: adding it (or changing how) rebuilds the images
    tf = cat.resolve("tensorflow")
    import core.envbuild as eb

    before = env_path(tmp_path, tf, None)
    eb.SDK_LAYOUT += 1
    try:
        assert env_path(tmp_path, tf, None) != before
    finally:
        eb.SDK_LAYOUT -= 1


def _venv(path: Path) -> Path:
    python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([python, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    return path / "bin" / "python"


def _site(py: Path) -> Path:
    return Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip())


PROBE = """
import importlib.metadata as md, importlib.util, json, libaiflow, libaiflow.context
eps = [e.value for e in md.entry_points(group="mlflow.run_context_provider")]
print(json.dumps({"file": libaiflow.__file__, "version": md.version("libaiflow"),
                  "requires": md.requires("libaiflow"), "providers": eps,
                  "others": [m for m in ("core", "plugins", "cli", "portal", "hooks")
                             if importlib.util.find_spec(m)]}))
"""


def test_expose_sdk_puts_only_libaiflow_on_the_path(tmp_path: Path) -> None:
    """The builder's SDK step on a bare environment (no pip, no build): libaiflow imports from
    <prefix>/hpcai-sdk, pip's metadata knows it, MLflow finds its run-context provider once, and
    no other package of the repository is importable."""
    import json

    py = _venv(tmp_path / "env")
    sdk = expose_sdk(tmp_path / "env", _site(py))
    assert sdk == tmp_path / "env" / SDK_DIR and sorted(p.name for p in sdk.iterdir()) == [
        "libaiflow", "libaiflow-0.1.0.dist-info"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    got = json.loads(subprocess.run([str(py), "-c", PROBE], capture_output=True, text=True, check=True,
                                    timeout=60, cwd=tmp_path, env=env).stdout)
    assert Path(got["file"]) == sdk / "libaiflow" / "__init__.py"
    assert Path(got["file"]).resolve() == SDK_SOURCE / "__init__.py"
    assert got["version"] == "0.1.0" and got["requires"] == list(SDK_REQUIREMENTS)
    assert got["providers"] == ["libaiflow.context:HpcaiRunContextProvider"] and got["others"] == []
    # layered on hpcai's own environment, which registers the provider already: not twice
    own_site = _site(Path(sys.prefix) / "bin" / "python")
    py2 = _venv(tmp_path / "layered")
    expose_sdk(tmp_path / "layered", _site(py2), str(own_site))
    assert not list((tmp_path / "layered" / SDK_DIR).glob("*.dist-info/entry_points.txt"))


@pytest.fixture(scope="module")
def tracked_site(tmp_path_factory, mlflow_server: str) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    """A site whose jobs get the session MLflow server (the tracking plugin's job env)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPCAI_MLFLOW_URI", mlflow_server)
        site = Site(tmp_path_factory.mktemp("sdk-site"))
        yield site
        site.close()


def check_job(site: Site, mlflow_server: str, image: str, prefix: str) -> None:
    framework, mode, module = JOBS.get(image, ("pytorch", "standalone", "torch"))
    project = site.project(f"sdk-{image}", HERE / "jobs" / "sdk_in_image.py")
    experiment = f"sdk-in-image-{image}"
    row = site.run({"framework": framework, "mode": mode, "image": image, "workdir": str(project),
                    "resource_spec": "cpu-1", "command": f"python sdk_in_image.py {module} {experiment}",
                    **({"instances": 1} if mode == "deepspeed" else {})})  # one rank: one run
    assert row.state == "succeeded", site.log(row)
    exp = rest.experiment_by_name(mlflow_server, experiment)
    runs = rest.search_runs(mlflow_server, [exp["experiment_id"]], f"tags.`hpcai.job_uuid` = '{row.uuid}'")
    assert len(runs) == 1, runs  # tagged by libaiflow's run-context provider inside the image
    params = rest.params(runs[0])
    assert params["python_prefix"] == prefix  # the job ran in the image, not in hpcai's env
    assert Path(params["libaiflow_file"]) == Path(prefix) / SDK_DIR / "libaiflow" / "__init__.py"
    assert params["repo_on_path"] == "False"
    assert rest.history(mlflow_server, runs[0]["info"]["run_id"], "sdk_check") == [(1, 0.5), (2, 1.0)]
    assert rest.tags(runs[0])["hpcai.framework"] == framework


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("image", list(JOBS))  # the order the conftest prebuilds them in
def test_a_job_in_the_image_logs_through_libaiflow(image: str, tracked_site: Site, build_image,  # type: ignore[no-untyped-def]
                                                  mlflow_server: str) -> None:
    check_job(tracked_site, mlflow_server, image, build_image(image))


@pytest.mark.integration
@pytest.mark.slow
def test_a_job_in_the_horovod_image_logs_through_libaiflow(tracked_site: Site, horovod_image: str,
                                                          mlflow_server: str) -> None:
    check_job(tracked_site, mlflow_server, "pytorch-horovod", horovod_image)
