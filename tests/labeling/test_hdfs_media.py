"""Media from an HDFS dataset are read by range through WebHDFS (offset/length on the NameNode,
carried to the DataNode), never whole: against the recorded WebHDFS exchanges."""

from __future__ import annotations

from core.errors import ValidationError
from core.labeling.sources import Datasets
from tests.datasets.conftest import make_platform, scratch
from tests.datasets.test_hdfs_backend import form
from tests.datasets.webhdfs_replay import FIXTURES, Replay


def test_hdfs_range_reads_and_numeric_refused() -> None:
    platform = make_platform(scratch("hdfs-label"), settings='hdfs_root = "/site"')
    with Replay() as hdfs:
        row = platform.datasets.create("alice", form(hdfs, file_suffix=["csv", "tsv"]))
        source = Datasets(platform.datasets)
        iris = (FIXTURES / "iris.csv").read_bytes()
        assert source.read("alice", row.id, "iris.csv", 10, 20) == iris[10:30]
        opens = [q for p, q in hdfs.requests if q.get("op") == "OPEN"]
        assert {"offset": "10", "length": "20"}.items() <= opens[-1].items()  # the DataNode's request
        files = list(source.files("alice", row.id))
        assert [f.path for f in files] == ["iris.csv", "setosa/part-0.tsv"] and files[0].mtime
        try:
            source.resolve("alice", row.id)
        except ValidationError as exc:
            assert "numeric data cannot be labeled" in exc.text
        else:
            raise AssertionError("a numeric HDFS dataset was accepted for labeling")
