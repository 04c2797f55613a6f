"""A 100 000-file task: created in the background, its data list keyset-paged and filtered
through indexes (the query plans say so; no timing assertions: bench/labeling_bench.py times it)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text

from tests.datasets.conftest import home
from tests.labeling.test_collaborative import ok

FILES = 100_000


def many_files(directory: Path, count: int) -> None:
    """`count` files in 100 folders (names only matter: the list never decodes them)."""
    for folder in range(100):
        d = directory / f"f{folder:02d}"
        d.mkdir(parents=True)
        for n in range(count // 100):
            fd = os.open(d / f"img{folder:02d}_{n:05d}.png", os.O_CREAT | os.O_WRONLY, 0o644)
            os.close(fd)


def test_data_list_of_100000_files(site) -> None:
    p, alice, bob = site["platform"], site["alice"], site["bob"]
    many_files(home(p, "alice") / "big", FILES)
    p.datasets.create("alice", {"name": "big", "category": "image", "directory": str(home(p, "alice") / "big")})
    created = ok(alice.post("/tasks", {"name": "big", "dataset": "big", "template": "image-classification",
                                       "mode": "collaborative", "subtask_size": 1000,
                                       "annotators": ["alice", "bob"]}), 202)
    task = p.labeling.wait(created["id"], timeout=300)
    assert task.state == "ready" and task.item_count == FILES
    info = ok(alice.get(f"/tasks/{task.id}"))
    assert (info["items"], info["labeled"]) == (FILES, 0)
    assert len(ok(alice.get(f"/tasks/{task.id}/subtasks"))) == 100

    first = ok(alice.get(f"/tasks/{task.id}/items?limit=50"))
    assert first["total"] == FILES and len(first["items"]) == 50
    assert first["items"][0]["path"] == "f00/img00_00000.png"
    # Deep pages cost what the first does: keyset paging from the last id seen.
    deep = ok(alice.get(f"/tasks/{task.id}/items?limit=50&after={first['items'][0]['id'] + 99_950}"))
    assert [i["path"] for i in deep["items"][-1:]] == ["f99/img99_00999.png"] and deep["next_after"] is None
    page2 = ok(alice.get(f"/tasks/{task.id}/items?limit=50&after={first['next_after']}"))
    assert page2["items"][0]["id"] == first["items"][-1]["id"] + 1
    # Filters: by status (after labeling two files), by name, by sub-task; bob sees only his.
    for item in first["items"][:2]:
        ok(alice.put(f"/items/{item['id']}", {"result": [{"id": "c", "from_name": "label", "to_name": "image",
                                                          "type": "choices", "value": {"choices": ["cat"]}}]}))
    labeled = ok(alice.get(f"/tasks/{task.id}/items?status=labeled"))
    assert labeled["total"] == 2 and [i["summary"] for i in labeled["items"]] == ["cat", "cat"]
    named = ok(alice.get(f"/tasks/{task.id}/items?name=img42_0099"))
    assert named["total"] == 10
    assert ok(alice.get(f"/tasks/{task.id}/items?name=100%25_"))["total"] == 0  # LIKE wildcards are literal
    mine = ok(bob.get(f"/tasks/{task.id}/items?limit=10"))
    assert mine["total"] == FILES // 2 and all(i["path"].startswith("f01/") for i in mine["items"])

    # The queries behind the list use the indexes, not a scan of the table.
    with p.store.engine.connect() as conn:
        def plan(sql: str) -> str:
            return " ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql),
                                                               {"t": task.id}))
        for sql in ("SELECT * FROM label_items WHERE task_id = :t AND id > 5 ORDER BY id LIMIT 51",
                    "SELECT * FROM label_items WHERE task_id = :t AND name LIKE '%img4%' AND id > 5 "
                    "ORDER BY id LIMIT 51"):
            assert "ix_label_items_task_id" in plan(sql) and "TEMP B-TREE" not in plan(sql), plan(sql)
        for sql, index in (
                ("SELECT * FROM label_items WHERE task_id = :t AND status = 'labeled' AND id > 0 ORDER BY id LIMIT 51",
                 "ix_label_items_task_status"),
                ("SELECT * FROM label_items WHERE task_id = :t AND subtask_id = 3 AND id > 0 ORDER BY id LIMIT 51",
                 "ix_label_items_task_subtask")):
            assert index in plan(sql) and "TEMP B-TREE" not in plan(sql), plan(sql)
