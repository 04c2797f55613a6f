"""The review sampling policy and the expiry date (F195, F197)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from core.labeling.models import LabelTaskRow
from core.labeling.service import review_sample
from tests.labeling.conftest import image_dataset
from tests.labeling.test_collaborative import box, ok, refused


def test_review_sample_by_percentage_and_count() -> None:
    ids = list(range(100, 137))  # 37 files
    assert len(review_sample(ids, "percent", 10, "s")) == 4  # 3.7 rounded up
    assert len(review_sample(ids, "percent", 100, "s")) == 37
    assert len(review_sample(ids, "count", 5, "s")) == 5
    assert len(review_sample(ids, "count", 500, "s")) == 37
    assert len(review_sample(ids[:1], "percent", 1, "s")) == 1  # never an empty sample
    assert review_sample(ids, "count", 5, "7:1") == review_sample(ids, "count", 5, "7:1")  # same submission
    assert review_sample(ids, "count", 5, "7:1") != review_sample(ids, "count", 5, "7:2")  # a new round
    assert set(review_sample(ids, "percent", 30, "x")) <= set(ids)


def test_nothing_changes_after_the_expiry_date(site) -> None:
    p, alice, bob = site["platform"], site["alice"], site["bob"]
    image_dataset(p, count=2)
    task = ok(alice.post("/tasks", {"name": "late", "dataset": "pics", "template": "image-detection",
                                    "mode": "collaborative", "subtask_size": 2, "annotators": ["bob"],
                                    "expires_at": "2999-12-31", "background": False}), 201)
    item = ok(bob.get(f"/tasks/{task['id']}/items"))["items"][0]["id"]
    ok(bob.put(f"/items/{item}", {"result": box()}))
    with p.store.session() as s:
        s.execute(update(LabelTaskRow).where(LabelTaskRow.id == task["id"]).values(
            expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
    refused(bob.put(f"/items/{item}", {"result": box(x=50)}), 403, "expired")
    refused(bob.post(f"/tasks/{task['id']}/subtasks/1/submit"), 403, "expired")
    info = ok(alice.get(f"/tasks/{task['id']}"))
    assert info["expired"] and "label" not in info["operations"] and "end" in info["operations"]
    assert ok(bob.get(f"/items/{item}"))["result"][0]["value"]["x"] == 10
    ok(alice.post(f"/tasks/{task['id']}/end"))
