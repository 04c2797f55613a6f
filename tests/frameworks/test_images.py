"""The image catalog: built-in images as buildable environments, `hpcai images build/list`."""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
from pathlib import Path

import pytest

from core.api import Image
from core.envbuild import MARKER, check_build_spec, env_path, is_built, usable_cpus
from core.errors import HpcaiError
from core.images import ImageCatalog
from tests.frameworks.conftest import REPO, Site

CATALOG = REPO / "etc" / "images.toml"


def catalog(tmp_path: Path) -> ImageCatalog:
    return ImageCatalog(CATALOG, REPO, tmp_path / "images")


def test_the_product_training_images_are_in_the_catalog(tmp_path: Path) -> None:
    cat = catalog(tmp_path)
    for ref, fw in [("192.168.0.153:5000/jhinno/tensorflow:2.13", "tensorflow"),
                    ("jhinno/pytorch:2.1.0", "pytorch"), ("jhinno/mxnet:1.9.1", "mxnet"),
                    ("jhinno/paddle:2.5.0", "paddle"), ("jhinno/mindspore:2.2.10", "mindspore"),
                    ("jhinno/deepspeed:0.16.4", "deepspeed")]:
        assert fw in cat.resolve(ref).frameworks, ref
    pins = {i.name: i.build.get("requirements", []) for i in cat.images}
    assert "numpy==1.23.5" in pins["mxnet"]  # numpy<1.24 for MXNet 1.9
    assert "numpy==1.26.4" in pins["mindspore"]  # numpy<2 for MindSpore
    horovod = cat.resolve("pytorch-horovod").build["sources"][0]
    assert horovod["replace"][0]["new"] == "set(CMAKE_CXX_STANDARD 17)"
    # C++17 for torch's headers in horovod/torch too; no debug info; make as wide as the node.
    assert {(r["file"], r["new"]) for r in horovod["replace"]} >= {
        ("horovod/torch/CMakeLists.txt", "set(CMAKE_CXX_STANDARD 17)"),
        ("CMakeLists.txt", 'set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O2 -DNDEBUG")')}
    assert horovod["env"]["MAKEFLAGS"] == "-j{cpus}" and horovod["env"]["HOROVOD_WITHOUT_TENSORFLOW"] == "1"
    ds = cat.resolve("deepspeed")
    assert ds.env["TORCH_EXTENSIONS_DIR"] == f"{ds.reference}/torch_extensions"
    for image in cat.images:
        if image.runtime == "host":  # container images are built by core/containers, from their own keys
            check_build_spec(image)  # every requirement is pinned


def test_environment_path_is_keyed_by_the_pinned_spec(tmp_path: Path) -> None:
    cat = catalog(tmp_path)
    tf = cat.resolve("tensorflow")
    assert Path(tf.reference).parent == tmp_path / "images"
    changed = Image(**{**tf.__dict__, "build": {"requirements": ["tensorflow-cpu==2.20.0"]}, "reference": ""})
    assert env_path(tmp_path, changed, None) != env_path(tmp_path, tf, None)
    assert env_path(tmp_path, tf, None) == env_path(tmp_path, Image(**tf.__dict__), None)


def test_unpinned_requirement_is_refused() -> None:
    with pytest.raises(HpcaiError) as err:
        check_build_spec(Image(name="x", runtime="host", reference="/x", build={"requirements": ["numpy"]}))
    assert err.value.field == "build.requirements" and "not pinned" in err.value.message


def test_images_list_filters_by_tag_and_shows_build_state(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    try:
        proc = site.hpcai("images", "list", "--tag", "mxnet", "--json")
        assert proc.returncode == 0, proc.stderr
        assert [i["name"] for i in json.loads(proc.stdout)["images"]] == ["mxnet"]
        proc = site.hpcai("images", "list", "--tag", "PyTorch")
        assert proc.returncode == 0
        names = [line.split()[0] for line in proc.stdout.splitlines()[1:]]
        assert names == ["pytorch", "pytorch-horovod", "pytorch-container"]  # environments, then containers
        assert proc.stderr.startswith("3 of ") and "PyTorch (3)" in proc.stderr  # the count, per tag
        proc = site.hpcai("images", "build", "no-such")
        assert proc.returncode == 2 and "image: unknown image 'no-such'" in proc.stderr
        proc = site.hpcai("images", "build", "pytorch")
        assert proc.returncode == 2 and "has no [image.build] spec" in proc.stderr
    finally:
        site.close()


@pytest.mark.integration
def test_build_is_cached_and_a_layered_image_sees_its_base(tmp_path: Path) -> None:
    """A tiny real build: layered on hpcai's own environment (torch visible, not copied)."""
    toml = tmp_path / "images.toml"
    toml.write_text('''
[[image]]
name = "pytorch"
runtime = "host"
reference = "{prefix}"
tags = ["PyTorch"]
frameworks = ["pytorch"]

[[image]]
name = "tiny"
runtime = "host"
tags = ["PyTorch"]
frameworks = ["pytorch"]
[image.build]
base = "pytorch"
requirements = ["six==1.17.0"]
post = ["python -c 'import torch, six; open(\\"{prefix}/post-ran\\", \\"w\\").write(torch.__version__)'",
        "echo \\"$JOBS\\" > {prefix}/jobs"]
env = {JOBS = "-j{cpus}"}
''')
    cat = ImageCatalog(toml, REPO, tmp_path / "images")
    first = cat.build("tiny", log=lambda _l: None)
    assert first.built and is_built(first.prefix)
    assert (first.prefix / "post-ran").read_text().startswith("2.13.0")
    assert (first.prefix / "jobs").read_text().strip() == f"-j{usable_cpus()}"  # make -j as wide as the node
    marker = json.loads((first.prefix / MARKER).read_text())
    assert {"seconds", "cpu_seconds", "load_before", "load_after", "cpus"} <= set(marker)
    again = ImageCatalog(toml, REPO, tmp_path / "images").build("tiny", log=lambda _l: None)
    assert not again.built and again.prefix == first.prefix  # second run: instant reuse
    out = subprocess.run([str(first.prefix / "bin" / "python"), "-c", "import torch, six; print(torch.__file__)"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(sysconfig.get_paths()["purelib"])  # the base's torch
    assert not list((first.prefix / "lib").glob("python3*/site-packages/torch"))  # shared, not copied
    # libaiflow (F87) from its own directory; its MLflow client is the base's (nothing installed)
    out = subprocess.run([str(first.prefix / "bin" / "python"), "-c",
                          "import libaiflow.tracking, mlflow; print(libaiflow.__file__); print(mlflow.__file__)"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,  # as a job: no repo on the path
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert out.returncode == 0, out.stderr
    sdk_file, mlflow_file = out.stdout.split()
    assert sdk_file == str(first.prefix / "hpcai-sdk" / "libaiflow" / "__init__.py")
    assert mlflow_file.startswith(sysconfig.get_paths()["purelib"])


@pytest.mark.integration
def test_failed_build_leaves_nothing_behind(tmp_path: Path) -> None:
    toml = tmp_path / "images.toml"
    toml.write_text('''
[[image]]
name = "pytorch"
runtime = "host"
reference = "{prefix}"

[[image]]
name = "broken"
runtime = "host"
[image.build]
base = "pytorch"  # the SDK's MLflow client is there: the build fails at its step, not in pip
post = ["echo compiling; exit 3"]
''')
    cat = ImageCatalog(toml, REPO, tmp_path / "images")
    with pytest.raises(HpcaiError) as err:
        cat.build("broken", log=lambda _l: None)
    assert "exit 3" in err.value.message and "compiling" in err.value.message
    assert not Path(cat.resolve("broken").reference).exists()
