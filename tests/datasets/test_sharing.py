"""Sharing (F174-F181): copies into the group's area in the background with progress; who may
do what on a shared dataset, enforced by the service."""

from __future__ import annotations

import pytest

from core.errors import NotFound, PermissionDenied, ValidationError
from tests.datasets.conftest import home, write
from tests.helpers import wait_until

IRIS = "a,b\n1,2\n3,4\n"


def mine(platform):
    d = home(platform, "alice") / "iris"
    write(d / "x.csv", IRIS)
    write(d / "sub" / "y.csv", IRIS)
    return platform.datasets.create("alice", {"name": "iris", "category": "numeric", "directory": str(d)})


def test_background_copy_with_progress_then_permissions(platform):
    src = mine(platform)
    # A big enough file that the copy reports progress more than once.
    write(home(platform, "alice") / "iris" / "z.csv", IRIS + "5,6\n" * 2_000_000)
    area = platform.datasets.group_area("team")
    seen = []
    row = platform.datasets.share("alice", src.id, {"share_name": "iris-team", "share_group": "team",
                                                    "share_directory": str(area / "iris")}, background=True)
    assert row.state == "copying" and row.area == "shared"

    def done():
        r = platform.datasets.get("alice", row.id)
        seen.append((r.state, r.progress))
        return r.state != "copying"

    wait_until(done, timeout=60, what="background copy")
    shared = platform.datasets.get("alice", row.id)
    assert shared.state == "ready" and shared.progress == 1.0, shared.message
    assert sorted(p.relative_to(area / "iris").as_posix() for p in (area / "iris").rglob("*.csv")) == \
        ["sub/y.csv", "x.csv", "z.csv"]
    assert shared.options["directory"] == str(area / "iris") and shared.shared_from == src.id
    assert all(0.0 <= p <= 1.0 for _, p in seen)

    ds = platform.datasets
    # Group member: preview and use, not modify nor delete.
    assert ds.allowed("bob", shared) == {"preview", "use"}
    assert ds.table("bob", ref=shared.id, rows=1).rows == [["1", "2"]]
    assert [r.name for r in ds.list("bob", area="shared")] == ["iris-team"]
    with pytest.raises(PermissionDenied):
        ds.modify("bob", shared.id, {"description": "bob was here"})
    with pytest.raises(PermissionDenied):
        ds.delete("bob", shared.id)
    # Not in the group: cannot even see it.
    with pytest.raises(NotFound):
        ds.get("carol", shared.id)
    assert ds.list("carol") == []
    # Administrator: delete only.
    assert ds.allowed("admin", shared) == {"delete"}
    with pytest.raises(PermissionDenied):
        ds.table("admin", ref=shared.id)
    # The sharer modifies.
    ds.modify("alice", shared.id, {"description": "for the team"})
    ds.delete("admin", shared.id)
    assert ds.list("bob") == []


def test_foreground_copy_and_refusals(platform):
    src = mine(platform)
    area = platform.datasets.group_area("team")
    ds = platform.datasets
    with pytest.raises(PermissionDenied) as err:
        ds.share("alice", src.id, {"share_name": "s", "share_group": "team",
                                   "share_directory": str(home(platform, "alice") / "elsewhere")})
    assert err.value.field == "share_directory"
    with pytest.raises(PermissionDenied) as err:  # carol is not in team
        ds.share("alice", src.id, {"share_name": "s", "share_group": "nobody-group",
                                   "share_directory": str(area / "s")})
    assert err.value.field == "share_group"
    with pytest.raises(ValidationError) as err:
        ds.share("alice", src.id, {"share_name": "s", "share_group": "team", "share_users": ["carol"],
                                   "share_directory": str(area / "s")})
    assert err.value.field == "share_users"
    with pytest.raises(NotFound):  # bob cannot share alice's dataset
        ds.share("bob", src.id, {"share_name": "s", "share_group": "team", "share_directory": str(area / "s")})
    assert ds.list("alice", area="shared") == []  # nothing half-created
    row = ds.share("alice", src.id, {"share_name": "s", "share_group": "team", "share_users": ["bob"],
                                     "share_directory": str(area / "s")}, background=False)
    assert row.state == "ready" and (area / "s" / "sub" / "y.csv").exists()
    with pytest.raises(ValidationError, match="already holds files"):
        ds.share("alice", src.id, {"share_name": "s2", "share_group": "team", "share_directory": str(area / "s")})
    with pytest.raises(ValidationError, match="already exists"):
        ds.share("alice", src.id, {"share_name": "s", "share_group": "team", "share_directory": str(area / "t")})


def test_new_shared_dataset_only_inside_the_group_area(platform):
    ds = platform.datasets
    area = platform.datasets.group_area("team")
    write(area / "direct" / "d.csv", IRIS)
    write(home(platform, "alice") / "own" / "d.csv", IRIS)
    with pytest.raises(PermissionDenied) as err:
        ds.create("alice", {"name": "d", "category": "numeric", "share_group": "team",
                            "directory": str(home(platform, "alice") / "own")}, area="shared")
    assert err.value.field == "directory"
    with pytest.raises(ValidationError) as err:
        ds.create("alice", {"name": "d", "category": "numeric", "directory": str(area / "direct")}, area="shared")
    assert err.value.field == "share_group"
    row = ds.create("alice", {"name": "d", "category": "numeric", "share_group": "team",
                              "directory": str(area / "direct")}, area="shared")
    assert ds.table("bob", ref=row.id).columns == ["a", "b"]


def test_a_copy_that_stopped_reporting_is_marked_failed(platform):
    """A background copy whose portal process died is not 'copying' forever."""
    from datetime import datetime, timedelta, timezone

    from core.datasets import STALE_COPY_S
    from core.store import DatasetRow

    src = mine(platform)
    area = platform.datasets.group_area("team")
    row = platform.datasets.share("alice", src.id, {"share_name": "s", "share_group": "team",
                                                    "share_directory": str(area / "s")}, background=False)
    with platform.store.session() as s:  # as a crashed copy leaves it
        r = s.get(DatasetRow, row.id)
        r.state, r.progress = "copying", 0.4
        r.updated_at = datetime.now(timezone.utc) - timedelta(seconds=STALE_COPY_S + 5)
    failed = platform.datasets.get("alice", row.id)
    assert failed.state == "failed" and "stopped reporting" in failed.message
    with pytest.raises(ValidationError, match="failed"):
        platform.datasets.table("bob", ref=row.id)
