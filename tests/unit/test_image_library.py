"""Image references, Containerfile checks, the build job's script and the one image list:
what is refused before any engine or job sees it (issue 14)."""

from __future__ import annotations

import pytest

from core.api import Image
from core.containers.library import ImageLibrary, RegistrySettings, build_script, check_containerfile
from core.containers.reference import parse_reference, qualify
from core.errors import HpcaiError, ValidationError
from core.store import Store


@pytest.mark.parametrize("text,parts", [
    ("192.168.0.153:5000/jhinno/pytorch:2.1.0", ("192.168.0.153:5000", "jhinno/pytorch", "2.1.0")),
    ("jhinno/pytorch", (None, "jhinno/pytorch", None)),
    ("localhost/hpcai/python-container:bfde5f1ac620", ("localhost", "hpcai/python-container", "bfde5f1ac620")),
    ("registry.site/a/b-c_d.e:v1.2-rc", ("registry.site", "a/b-c_d.e", "v1.2-rc")),
])
def test_references_parse(text: str, parts: tuple) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.path, ref.tag) == parts and str(ref) == text


@pytest.mark.parametrize("text", ["", "Bad/Name", "a b", "x:", "jhinno/PyTorch:1", "a//b", " lead", "a:b:c"])
def test_malformed_references_name_the_field_and_the_form(text: str) -> None:
    with pytest.raises(ValidationError) as e:
        parse_reference(text)
    assert e.value.field == "image" and "[registry[:port]/]name[:tag]" in (e.value.fix or "")


def test_bare_references_go_to_the_site_registry_with_latest() -> None:
    assert str(qualify("jhinno/pytorch", "reg.site:5000")) == "reg.site:5000/jhinno/pytorch:latest"
    assert str(qualify("10.0.0.1:5000/x:1", "reg.site:5000")) == "10.0.0.1:5000/x:1"


def test_product_registry_hosts_map_onto_the_sites(tmp_path) -> None:
    lib = ImageLibrary(Store(f"sqlite:///{tmp_path / 's.db'}"), list,
                       RegistrySettings("reg.site:5000", {"192.168.0.153:5000": "reg.site:5000"}))
    assert str(lib.engine_reference("192.168.0.153:5000/jhinno/pytorch:2.1.0")) == "reg.site:5000/jhinno/pytorch:2.1.0"


@pytest.mark.parametrize("text,message", [
    ("", "the Containerfile is empty"),
    ("RUN echo hi\n", "the first instruction is RUN, not FROM"),
    ("FROM x\nRUNN echo\n", "line 2: unknown instruction RUNN"),
])
def test_containerfiles_that_cannot_build_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as e:
        check_containerfile(text)
    assert e.value.field == "containerfile" and message in e.value.message


def test_containerfiles_with_args_and_continuations_pass() -> None:
    check_containerfile("# c\nARG BASE=x\nFROM ${BASE}\nRUN a \\\n  && b\nCOPY f /f\n")


def test_the_build_jobs_script() -> None:
    script = build_script("localhost/u1/x:v1", "/home/u1/p/Containerfile", "/home/u1/p dir")
    assert script.splitlines()[-1] == ("exec podman build --network host --layers -t localhost/u1/x:v1 "
                                       "-f /home/u1/p/Containerfile '/home/u1/p dir'")
    assert 'CONTAINERS_CONF="${CONTAINERS_CONF:-' in script


def test_my_images_are_private_and_names_are_checked(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    builtin = [Image(name="python-container", runtime="podman", reference="localhost/hpcai/p:1", tags=["Python"])]
    lib = ImageLibrary(store, lambda: builtin, RegistrySettings())
    lib._add("u1", "u1/a:v1", "localhost/u1/a:v1", "pull", ["PyTorch"])
    assert [i.name for i in lib.images_for("u1")] == ["u1/a:v1"] and lib.images_for("u2") == []
    with pytest.raises(HpcaiError) as e:
        lib.share("u2", "u1/a:v1")
    assert e.value.status == 403
    lib.share("u1", "u1/a:v1")
    assert [i.name for i in lib.images_for("u2")] == ["u1/a:v1"]
    found = lib.search("u2", "all", None, "a:v1")
    assert [x.scope for x in found.images] == ["shared"] and found.total == 2 and found.tag_counts == {"PyTorch": 1}
    for bad, status in (("Bad Name", 400), ("python-container", 409), ("u1/a:v1", 409)):
        with pytest.raises(HpcaiError) as e:
            lib._check_new_name("u1", bad)
        assert e.value.status == status and e.value.field == "name"
    with pytest.raises(ValidationError):
        lib.search("u1", "everything")
