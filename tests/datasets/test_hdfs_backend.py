"""The HDFS backend's WebHDFS client against recorded NameNode/DataNode responses
(fixtures/webhdfs/README.md names the source: the Hadoop WebHDFS REST API documentation)."""

from __future__ import annotations

import socket

import pytest

from core.errors import ValidationError
from tests.datasets.conftest import make_platform, scratch
from tests.datasets.webhdfs_replay import Replay


@pytest.fixture
def hdfs():
    with Replay() as replay:
        yield replay


def form(replay, **extra):
    return {"name": "iris-hdfs", "category": "numeric", "backend": "hdfs", "host": "127.0.0.1", "port": 8020,
            "web_port": replay.port, "user": "hadoop", "path": "/data/iris", **extra}


def test_numeric_dataset_through_webhdfs_with_the_site_root(hdfs):
    platform = make_platform(scratch("hdfs"), settings='hdfs_root = "/site"')
    ds = platform.datasets
    assert "/site/data/iris is a directory owned by hadoop" in ds.test_connection("alice", form(hdfs))
    row = ds.create("alice", form(hdfs, file_suffix=["csv", "tsv"]))
    files, more = ds.files("alice", ref=row.id)
    assert [(f.path, f.size) for f in files] == [("iris.csv", 147), ("setosa/part-0.tsv", 64)] and not more
    table = ds.table("alice", ref=row.id, rows=2)  # first matching file, through the DataNode redirect
    assert table.columns == ["sepal.length", "sepal.width", "petal.length", "petal.width", "target"]
    assert table.rows == [["5.1", "3.5", "1.4", "0.2", "0"], ["4.9", "3.0", "1.4", "0.2", "0"]] and table.truncated
    ops = [(p, q.get("op"), "namenoderpcaddress" in q) for p, q in hdfs.requests]
    assert ("/webhdfs/v1/site/data/iris/iris.csv", "OPEN", False) in ops  # NameNode
    assert ("/webhdfs/v1/site/data/iris/iris.csv", "OPEN", True) in ops  # then the DataNode
    assert all(q["user.name"] == "hadoop" for _, q in hdfs.requests if "namenoderpcaddress" not in q)
    env = ds.job_env("alice", [row.id], "/jobs/1", csv=False)
    assert env["HPCAI_DATASET_IRIS_HDFS_HDFS_URL"] == "hdfs://127.0.0.1:8020/site/data/iris"
    assert env["HPCAI_DATASET_IRIS_HDFS_WEBHDFS_URL"].endswith(f":{hdfs.port}/webhdfs/v1/site/data/iris")


def test_documented_examples_and_errors(hdfs):
    platform = make_platform(scratch("hdfs"))
    ds = platform.datasets
    doc = form(hdfs, category="text", path="/user/szetszwo", user="webuser", file_suffix=["txt"])
    assert "owned by webuser" in ds.test_connection("alice", doc)
    # The documented listing holds a.patch and the empty directory bar: no .txt file.
    assert ds.files("alice", doc) == ([], False)
    with pytest.raises(ValidationError) as err:
        ds.test_connection("alice", form(hdfs, path="/foo/a.patch"))
    assert err.value.field == "path" and "FileNotFoundException: File does not exist" in err.value.message
    with pytest.raises(ValidationError) as err:
        ds.test_connection("alice", form(hdfs, path="/site/secret"))
    assert err.value.field == "user" and "SecurityException" in err.value.message
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(ValidationError) as err:
        ds.test_connection("alice", form(hdfs, web_port=closed))
    assert err.value.field == "web_port" and "cannot be reached" in err.value.message
    with pytest.raises(ValidationError) as err:
        ds.create("alice", form(hdfs, path="data/iris"))
    assert err.value.field == "path"
    with pytest.raises(ValidationError, match="'mp4' is not allowed"):
        ds.create("alice", form(hdfs, file_suffix=["mp4"]))
    with pytest.raises(ValidationError) as err:
        ds.create("alice", form(hdfs, category="other"))
    assert err.value.field == "backend"


def test_hdfs_refused_while_classification_is_on(hdfs, tmp_path):
    data = scratch("hdfs-cls")
    platform = make_platform(data)
    (data / "hpcai.toml").write_text(f'[core]\ndata_dir = "{data}"\nclassification = true\n')
    from core.config import load_config
    from core.platform import Platform

    on = Platform(load_config({"HPCAI_CONFIG": str(data / "hpcai.toml"), "HPCAI_DATA_DIR": str(data)}))
    with pytest.raises(ValidationError, match="classification") as err:
        on.datasets.create("alice", form(hdfs))
    assert err.value.field == "backend"
    assert platform.datasets.list("alice") == []
