"""Data-file datasets on real files: suffix rules, identical headers, annotation, preview."""

from __future__ import annotations

import json

import pytest

from core.errors import NotFound, PermissionDenied, ValidationError
from tests.datasets.conftest import home, write

IRIS = "sepal.length,sepal.width,species\n5.1,3.5,setosa\n4.9,3.0,setosa\n6.2,3.4,virginica\n"


def numeric(platform, user="alice", name="iris", **options):
    d = home(platform, user) / name
    return platform.datasets.create(user, {"name": name, "category": "numeric", "backend": "files",
                                           "directory": str(d), **options})


def test_numeric_csv_and_tsv_with_identical_headers(platform):
    d = home(platform, "alice") / "iris"
    write(d / "a.csv", IRIS)
    write(d / "b.tsv", IRIS.replace(",", "\t"))
    write(d / "notes.txt", "not data")
    row = numeric(platform, file_suffix=["csv", "tsv"], description="iris data")
    info = platform.datasets.info(row, "alice")
    assert info["options"] == {"directory": str(d.resolve()), "file_suffix": ["csv", "tsv"]}
    assert info["permissions"] == ["delete", "modify", "preview", "use"]
    files, more = platform.datasets.files("alice", ref=row.id)
    assert [f.path for f in files] == ["a.csv", "b.tsv"] and not more
    # FAQ 8: column names with dots are ordinary columns here.
    table = platform.datasets.table("alice", ref="iris", rows=2, file="b.tsv")
    assert table.columns == ["sepal.length", "sepal.width", "species"]
    assert table.rows == [["5.1", "3.5", "setosa"], ["4.9", "3.0", "setosa"]] and table.truncated
    full = platform.datasets.table("alice", ref="iris", rows=10)
    assert len(full.rows) == 3 and not full.truncated


def test_different_header_names_the_first_differing_file(platform):
    d = home(platform, "alice") / "iris"
    write(d / "1.csv", IRIS)
    write(d / "2.csv", IRIS)
    write(d / "3.csv", "a,b,c\n1,2,3\n")
    write(d / "4.csv", "x,y\n1,2\n")
    with pytest.raises(ValidationError) as err:
        numeric(platform)
    assert err.value.field == "directory" and "3.csv has a different header than 1.csv" in err.value.message
    assert platform.datasets.list("alice") == []  # nothing half-created


def test_malformed_csv_names_file_and_line(platform):
    d = home(platform, "alice") / "iris"
    write(d / "a.csv", "x,y\n1,2\n3,4,5\n")
    with pytest.raises(ValidationError, match=r"a.csv, line 3: 3 columns, the header has 2"):
        numeric(platform)
    write(d / "a.csv", 'x,y\n1,"2\n3,4\n')
    with pytest.raises(ValidationError, match=r"a.csv, line \d+: malformed CSV"):
        numeric(platform)
    (d / "a.csv").write_bytes(b"x,y\n1,2\n\xff\xfe,3\n")
    with pytest.raises(ValidationError, match="not UTF-8"):
        numeric(platform)


def test_bad_input_is_refused_with_the_field(platform):
    d = home(platform, "alice") / "iris"
    write(d / "a.csv", IRIS)
    with pytest.raises(ValidationError) as err:
        numeric(platform, file_suffix=[])
    assert err.value.field == "file_suffix"
    with pytest.raises(ValidationError, match="suffix 'png' is not allowed"):
        numeric(platform, file_suffix=["png"])
    with pytest.raises(ValidationError, match=r"no file in .* ends with \.tsv"):
        numeric(platform, file_suffix=["tsv"])
    with pytest.raises(PermissionDenied) as err:
        platform.datasets.create("alice", {"name": "etc", "category": "numeric", "directory": "/etc"})
    assert err.value.field == "directory"
    with pytest.raises(ValidationError) as err:
        platform.datasets.create("alice", {"name": "bad/name", "category": "numeric", "directory": str(d)})
    assert err.value.field == "name"
    with pytest.raises(ValidationError) as err:
        platform.datasets.create("alice", {"name": "x", "category": "numeric", "backend": "hdfs-nope",
                                           "directory": str(d)})
    assert err.value.field == "backend"
    with pytest.raises(ValidationError) as err:
        numeric(platform, colour="blue")
    assert err.value.field == "colour"
    numeric(platform)
    with pytest.raises(ValidationError, match="already exists") as err:
        numeric(platform)
    assert err.value.field == "name"
    assert len(platform.datasets.list("alice")) == 1
    # Someone else may use the same name in their own datasets.
    write(home(platform, "bob") / "iris" / "a.csv", IRIS)
    numeric(platform, user="bob")


def test_media_suffixes_and_annotation_modes(platform):
    d = home(platform, "alice") / "pics"
    write(d / "cat" / "1-a.png", "png")
    write(d / "cat" / "2-b.jpg", "jpg")
    write(d / "dog" / "3-c.webp", "webp")
    write(d / "dog" / "clip.mp4", "mp4")
    write(d / "labels.json", json.dumps({"1-a.png": "kitty", "cat/2-b.jpg": "tom"}))
    base = {"category": "image", "backend": "files", "directory": str(d)}
    folder = platform.datasets.create("alice", {**base, "name": "by-folder", "annotation": "folder",
                                                "file_suffix": ["png", "jpg", "webp"]})
    files, _ = platform.datasets.files("alice", ref=folder.id)
    assert [(f.path, f.label) for f in files] == [("cat/1-a.png", "cat"), ("cat/2-b.jpg", "cat"),
                                                  ("dog/3-c.webp", "dog")]
    byname = platform.datasets.create("alice", {**base, "name": "by-name", "annotation": "filename",
                                                "file_suffix": ["png", "webp"]})
    assert [f.label for f in platform.datasets.files("alice", ref=byname.id)[0]] == ["1", "3"]
    labelled = platform.datasets.create("alice", {**base, "name": "by-file", "annotation": "file",
                                                  "label_file": str(d / "labels.json"), "file_suffix": ["png", "jpg"]})
    assert [f.label for f in platform.datasets.files("alice", ref=labelled.id)[0]] == ["kitty", "tom"]
    with pytest.raises(ValidationError) as err:
        platform.datasets.create("alice", {**base, "name": "x", "annotation": "file", "file_suffix": ["png"]})
    assert err.value.field == "label_file"
    with pytest.raises(ValidationError, match="only JSON"):
        platform.datasets.create("alice", {**base, "name": "x", "annotation": "file", "file_suffix": ["png"],
                                           "label_file": str(d / "cat" / "1-a.png")})
    with pytest.raises(ValidationError, match="'mp4' is not allowed for image"):
        platform.datasets.create("alice", {**base, "name": "x", "file_suffix": ["mp4"]})
    video = platform.datasets.create("alice", {**base, "name": "clips", "category": "video", "file_suffix": ["mp4"]})
    data, cut = platform.datasets.read_file("alice", video.id, "dog/clip.mp4")
    assert data == b"mp4" and not cut
    with pytest.raises(ValidationError):  # outside the dataset, or another suffix
        platform.datasets.read_file("alice", video.id, "../pics/labels.json")
    with pytest.raises(ValidationError):
        platform.datasets.read_file("alice", video.id, "labels.json")
    with pytest.raises(ValidationError, match="cannot be annotated"):
        platform.datasets.create("alice", {"category": "numeric", "name": "n", "directory": str(d),
                                           "annotation": "folder"})
    write(d / "t" / "a.txt", "hello text")
    text = platform.datasets.create("alice", {"category": "text", "name": "txt", "directory": str(d / "t"),
                                              "file_suffix": ["txt"]})
    assert platform.datasets.read_file("alice", text.id, "a.txt", max_bytes=5) == (b"hello", True)
    with pytest.raises(ValidationError, match="no table view"):
        platform.datasets.table("alice", ref=text.id)
    write(d / "s" / "a.flac", "f")
    with pytest.raises(ValidationError, match="'wav'|no file"):
        platform.datasets.create("alice", {"category": "audio", "name": "a", "directory": str(d / "s"),
                                           "file_suffix": ["wav"]})


def test_tfrecord_needs_one_tf_file_and_one_json_file(platform):
    d = home(platform, "alice") / "tf"
    write(d / "train.tfrecord", "records")
    write(d / "meta.json", '{"count": 3}')
    base = {"category": "other", "backend": "files", "name": "tf"}
    with pytest.raises(ValidationError) as err:
        platform.datasets.create("alice", {**base, "tf_file": str(d / "meta.json"), "json_file": str(d / "meta.json")})
    assert err.value.field == "tf_file"
    with pytest.raises(ValidationError, match="exactly one"):
        platform.datasets.create("alice", {**base, "tf_file": [str(d / "train.tfrecord")] * 2,
                                           "json_file": str(d / "meta.json")})
    with pytest.raises(ValidationError) as err:
        platform.datasets.create("alice", {**base, "tf_file": str(d / "train.tfrecord")})
    assert err.value.field == "json_file"
    row = platform.datasets.create("alice", {**base, "tf_file": str(d / "train.tfrecord"),
                                             "json_file": str(d / "meta.json")})
    assert [f.path for f in platform.datasets.files("alice", ref=row.id)[0]] == ["train.tfrecord", "meta.json"]


def test_modify_and_delete_by_owner_only(platform):
    d = home(platform, "alice") / "iris"
    write(d / "a.csv", IRIS)
    row = numeric(platform)
    changed = platform.datasets.modify("alice", "iris", {"description": "v2", "name": "iris2"})
    assert changed.name == "iris2" and changed.description == "v2" and changed.options["directory"]
    with pytest.raises(ValidationError, match="cannot be changed"):
        platform.datasets.modify("alice", row.id, {"category": "image"})
    with pytest.raises(NotFound):  # personal datasets are invisible to others
        platform.datasets.modify("bob", row.id, {"description": "mine"})
    with pytest.raises(NotFound):
        platform.datasets.table("bob", ref=row.id)
    assert platform.datasets.list("admin") == []  # not in the administrator's own list
    assert [r.id for r in platform.datasets.list("admin", all_users=True)] == [row.id]
    assert [r.id for r in platform.datasets.list("bob", all_users=True)] == []
    platform.datasets.delete("admin", row.id)  # administrators may delete (only)
    with pytest.raises(NotFound):
        platform.datasets.get("alice", row.id)
    assert (d / "a.csv").exists()  # the data stays
