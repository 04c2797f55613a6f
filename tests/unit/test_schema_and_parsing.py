"""Schema merge/validation, env lists, mounts, image aliases and configuration."""

import pytest

from core.config import load_config
from core.errors import HpcaiError, ValidationError
from core.images import ImageCatalog, strip_registry
from core.jobs import parse_env_list, parse_mount
from core.schema import is_visible, merge, validate, with_defaults


def test_merge_refuses_a_field_defined_twice_naming_both_owners():
    a = {"properties": {"x": {"type": "string"}}}
    with pytest.raises(HpcaiError, match="field 'x' is defined by both mode a and option b"):
        merge([("mode a", a), ("option b", a)])


def test_validate_names_fields_and_respects_visible_if():
    schema = merge([("core", {"required": ["n", "servers"], "properties": {
        "n": {"type": "integer", "minimum": 1, "x-fix": "give --n 2"},
        "mode": {"type": "string", "enum": ["a", "ps"]},
        "servers": {"type": "integer", "minimum": 1, "x-visible-if": {"mode": "ps"}}}})])
    errs = validate(schema, {"n": 0, "mode": "a"})
    assert [(e.field, e.message, e.fix) for e in errs] == [("n", "must be at least 1, got 0", "give --n 2")]
    errs = validate(schema, {"n": 1, "mode": "ps"})
    assert [(e.field, e.message) for e in errs] == [("servers", "is required")]
    assert not is_visible(schema["properties"]["servers"], {"mode": "a"})
    assert with_defaults({"properties": {"k": {"default": [1]}}}, {})["k"] == [1]


def test_env_list_in_the_products_form():
    assert parse_env_list("ENV1=test1,ENV2=test2") == {"ENV1": "test1", "ENV2": "test2"}
    assert parse_env_list("A=x\\,y,B==") == {"A": "x,y", "B": "="}
    for bad in ("A", "1A=x", "A-B=1"):
        with pytest.raises(ValidationError) as e:
            parse_env_list(bad)
        assert e.value.field == "env"


def test_mount_point_defaults_to_the_mount_directory():
    m = parse_mount("/data/mnist")
    assert (m.source, m.mount_point, m.readonly) == ("/data/mnist", "/data/mnist", False)
    m = parse_mount("/data/mnist:/data:ro")
    assert (m.source, m.mount_point, m.readonly) == ("/data/mnist", "/data", True)


def test_product_image_references_map_to_catalog_aliases(tmp_path):
    f = tmp_path / "images.toml"
    f.write_text('[[image]]\nname = "pt"\nruntime = "host"\nreference = "{prefix}"\n'
                 'tags = ["PyTorch"]\naliases = ["jhinno/pytorch:2.1.0"]\n')
    cat = ImageCatalog(f, tmp_path)
    assert strip_registry("192.168.0.153:5000/jhinno/pytorch:2.1.0") == "jhinno/pytorch:2.1.0"
    assert strip_registry("jhinno/pytorch:2.1.0") == "jhinno/pytorch:2.1.0"
    assert cat.find("192.168.0.153:5000/jhinno/pytorch:2.1.0").name == "pt"
    assert cat.find("registry.example.org/jhinno/pytorch:9.9").name == "pt"  # same repository
    assert cat.find("jhinno/tensorflow:2.13") is None
    assert [i.name for i in cat.tagged("pytorch")] == ["pt"]
    with pytest.raises(ValidationError, match="unknown image"):
        cat.resolve("nope")


def test_config_file_and_environment_overrides(tmp_path):
    conf = tmp_path / "hpcai.toml"
    conf.write_text('[core]\ndefault_scheduler = "slurm"\ndata_dir = "d"\n[plugins]\nenable = ["x"]\n')
    c = load_config({"HPCAI_CONFIG": str(conf), "HPCAI_HOME": str(tmp_path)})
    assert c.default_scheduler == "slurm" and c.data_dir == tmp_path / "d"
    assert c.db_url == f"sqlite:///{tmp_path / 'd' / 'hpcai.db'}" and c.spool == tmp_path / "d" / "spool"
    c = load_config({"HPCAI_CONFIG": str(conf), "HPCAI_HOME": str(tmp_path), "HPCAI_DEFAULT_SCHEDULER": "local",
                     "HPCAI_DB_URL": "postgresql+psycopg://h/db", "HPCAI_PLUGINS_ENABLE": "y, z"})
    assert c.default_scheduler == "local" and c.db_url.endswith("/db") and c.enable == ["x", "y", "z"]
    conf.write_text("[core\n")
    with pytest.raises(HpcaiError, match="fix the TOML syntax"):
        load_config({"HPCAI_CONFIG": str(conf)})
