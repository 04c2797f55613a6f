"""A collaborative task through the REST API (F192-F198): two annotators, one reviewer;
reassign, submit, "rejected", resubmit, "approved", "has errors", end. Every forbidden action
is refused (403/404/409) and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.labeling.conftest import image_dataset


def box(label: str = "car", x: float = 10) -> list[dict[str, Any]]:
    return [{"id": f"r{x}", "from_name": "box", "to_name": "image", "type": "rectanglelabels",
             "original_width": 64, "original_height": 48,
             "value": {"x": x, "y": 20, "width": 30, "height": 25, "rotation": 0, "rectanglelabels": [label]}}]


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def refused(resp: Any, status: int, words: str) -> None:
    body = resp.get_json()
    assert resp.status_code == status, body
    assert words in body["error"], body


def snapshot(site: dict[str, Any], task: str) -> Any:
    alice = site["alice"]
    items = ok(alice.get(f"/tasks/{task}/items?limit=500"))["items"]
    subs = ok(alice.get(f"/tasks/{task}/subtasks"))
    info = ok(alice.get(f"/tasks/{task}"))
    return ([(i["id"], i["status"], i["result"], i["version"]) for i in items],
            [(s["number"], s["annotator"], s["state"], s["round"], s["verdict"]) for s in subs],
            (info["template"], info["labels"], info["description"], info["state"]))


def test_two_annotators_one_reviewer_through_end(site) -> None:
    collaborative_round_trip(site)


@pytest.mark.integration
def test_the_same_on_postgresql(pg_site) -> None:
    collaborative_round_trip(pg_site)


def collaborative_round_trip(site: dict[str, Any]) -> None:
    p, alice, bob, carol, dave = (site[k] for k in ("platform", "alice", "bob", "carol", "dave"))
    image_dataset(p, count=6)
    created = ok(alice.post("/tasks", {
        "name": "street", "dataset": "pics", "template": "image-boxes-polygons", "labels": ["car", "person"],
        "mode": "collaborative", "subtask_size": 3, "annotators": ["bob", "carol"], "review": True,
        "reviewers": ["dave"], "policy": "count", "policy_value": 2, "expires_at": "2999-01-01"}), 202)
    assert created["state"] == "creating"
    task = created["id"]
    assert p.labeling.wait(task).state == "ready"
    subs = ok(alice.get(f"/tasks/{task}/subtasks"))
    assert [(s["number"], s["annotator"], s["items"]) for s in subs] == [(1, "bob", 3), (2, "carol", 3)]

    # Annotators see only their own sub-task and its files; an outsider sees nothing.
    assert [s["number"] for s in ok(bob.get(f"/tasks/{task}/subtasks"))] == [1]
    bob_items = ok(bob.get(f"/tasks/{task}/items"))
    assert bob_items["total"] == 3
    carol_items = ok(carol.get(f"/tasks/{task}/items"))["items"]
    assert ok(dave.get(f"/tasks/{task}/subtasks")) == []  # nothing submitted yet
    refused(site["admin"].get(f"/tasks/{task}"), 404, "no labeling task")

    before = snapshot(site, task)
    # Forbidden: another annotator's file, another's sub-task, creator-only actions, reviewing.
    refused(bob.put(f"/items/{carol_items[0]['id']}", {"result": box()}), 403, "of carol, not to you")
    refused(bob.get(f"/items/{carol_items[0]['id']}"), 403, "not to you")
    refused(bob.get(f"/items/{carol_items[0]['id']}/media"), 403, "not to you")
    refused(bob.post(f"/tasks/{task}/subtasks/2/submit"), 403, "assigned to carol")
    refused(bob.post(f"/tasks/{task}/subtasks/2/reassign", {"annotator": "bob"}), 403, "only the task's creator")
    refused(bob.post(f"/tasks/{task}/end"), 403, "only the task's creator")
    refused(bob.call("PATCH", f"/tasks/{task}", {"description": "mine"}), 403, "only the task's creator")
    refused(bob.call("DELETE", f"/tasks/{task}"), 403, "only the task's creator")
    refused(carol.post(f"/tasks/{task}/subtasks/1/review", {"verdict": "approved"}), 403, "not a reviewer")
    refused(dave.post(f"/tasks/{task}/subtasks/1/review", {"verdict": "approved"}), 409, "not submitted")
    refused(dave.put(f"/items/{bob_items['items'][0]['id']}", {"result": box()}), 403, "not to you")
    # F186: only pre-annotation, template (labels) and description change.
    refused(alice.call("PATCH", f"/tasks/{task}", {"name": "renamed"}), 400, "cannot be changed")
    refused(alice.call("PATCH", f"/tasks/{task}", {"mode": "personal"}), 400, "cannot be changed")
    refused(alice.call("PATCH", f"/tasks/{task}", {"template": "text-ner"}), 400, "for text data")
    assert snapshot(site, task) == before

    # Reassign: sub-task 2 goes to bob, carol loses it; then back to carol.
    ok(alice.post(f"/tasks/{task}/subtasks/2/reassign", {"annotator": "bob"}))
    refused(carol.put(f"/items/{carol_items[0]['id']}", {"result": box()}), 403, "of bob, not to you")
    refused(alice.post(f"/tasks/{task}/subtasks/2/reassign", {"annotator": "dave"}), 400, "not an annotator")
    ok(alice.post(f"/tasks/{task}/subtasks/2/reassign", {"annotator": "carol"}))

    # bob labels; submitting with a file left unlabeled is refused.
    ids = [i["id"] for i in bob_items["items"]]
    for n, item_id in enumerate(ids[:2]):
        saved = ok(bob.put(f"/items/{item_id}", {"result": box(x=5 + n), "lead_time": 3.5}))
        assert saved["status"] == "labeled" and saved["labeled_by"] == "bob"
    refused(bob.post(f"/tasks/{task}/subtasks/1/submit"), 409, "1 of 3 files")
    # An autosaved draft does not mark the file labeled; a stale version is refused.
    ok(bob.put(f"/items/{ids[2]}", {"result": box(x=40), "draft": True}))
    assert ok(bob.get(f"/items/{ids[2]}"))["status"] == "unlabeled"
    refused(bob.put(f"/items/{ids[0]}", {"result": box(), "version": 0}), 409, "saved elsewhere")
    ok(bob.put(f"/items/{ids[2]}", {"result": box(x=40)}))
    sub1 = ok(bob.post(f"/tasks/{task}/subtasks/1/submit"))
    assert sub1["state"] == "submitted" and sub1["sample"] == []  # not shown to the annotator
    sample = ok(dave.get(f"/tasks/{task}/subtasks"))[0]["sample"]
    assert len(sample) == 2 and set(sample) <= set(ids)
    refused(bob.put(f"/items/{ids[0]}", {"result": box()}), 409, "submitted")

    # The reviewer rejects (a reason is required), the annotator fixes and resubmits, approved.
    assert [s["number"] for s in ok(dave.get(f"/tasks/{task}/subtasks"))] == [1]
    assert ok(dave.get(f"/items/{ids[0]}"))["editable"] is False
    refused(dave.post(f"/tasks/{task}/subtasks/1/review", {"verdict": "rejected"}), 400, "say why")
    back = ok(dave.post(f"/tasks/{task}/subtasks/1/review", {"verdict": "rejected", "comment": "boxes too loose"}))
    assert (back["state"], back["round"]) == ("labeling", 2)
    ok(bob.put(f"/items/{ids[0]}", {"result": box(x=12)}))
    again = ok(bob.post(f"/tasks/{task}/subtasks/1/submit"))
    assert again["state"] == "submitted"
    done = ok(dave.post(f"/tasks/{task}/subtasks/1/review", {"verdict": "approved"}))
    assert done["state"] == "approved" and done["reviewed_by"] == "dave"
    history = ok(bob.get(f"/tasks/{task}/subtasks/1/reviews"))
    assert [(h["round"], h["verdict"]) for h in history] == [(1, "rejected"), (2, "approved")]

    # carol labels sub-task 2; "has errors" needs flagged files and marks them.
    cids = [i["id"] for i in carol_items]
    for item_id in cids:
        ok(carol.put(f"/items/{item_id}", {"result": box("person")}))
    ok(carol.post(f"/tasks/{task}/subtasks/2/submit"))
    refused(dave.post(f"/tasks/{task}/subtasks/2/review", {"verdict": "has_errors"}), 400, "mark the files")
    refused(dave.post(f"/tasks/{task}/subtasks/2/review", {"verdict": "has_errors", "flagged": [ids[0]]}),
            400, "not in sub-task 2")
    ok(dave.post(f"/tasks/{task}/subtasks/2/review", {"verdict": "has_errors", "flagged": [cids[1]],
                                                      "comment": "that is a car"}))
    assert ok(carol.get(f"/items/{cids[1]}"))["review_mark"] == "has_errors"
    ok(carol.put(f"/items/{cids[1]}", {"result": box("car")}))
    ok(carol.post(f"/tasks/{task}/subtasks/2/submit"))

    # The creator ends the task while sub-task 2 waits for review: nobody changes anything after.
    ended = ok(alice.post(f"/tasks/{task}/end"))
    assert ended["state"] == "ended" and "end" not in ended["operations"]
    before = snapshot(site, task)
    refused(carol.put(f"/items/{cids[0]}", {"result": box("car")}), 403, "was ended")
    refused(dave.post(f"/tasks/{task}/subtasks/2/review", {"verdict": "approved"}), 403, "was ended")
    refused(alice.post(f"/tasks/{task}/subtasks/2/reassign", {"annotator": "bob"}), 403, "was ended")
    refused(alice.call("PATCH", f"/tasks/{task}", {"description": "late"}), 403, "was ended")
    refused(alice.post(f"/tasks/{task}/end"), 409, "already ended")
    refused(bob.post(f"/tasks/{task}/subtasks/1/submit"), 403, "was ended")
    assert snapshot(site, task) == before
    # Ended tasks can still be exported by their creator.
    assert ok(alice.get(f"/tasks/{task}"))["labeled"] == 6


def test_creation_is_checked_before_anything_is_stored(site) -> None:
    p, alice = site["platform"], site["alice"]
    image_dataset(p, count=2)
    csv_dir = p.workspace.home("alice") / "table"
    csv_dir.mkdir()
    (csv_dir / "a.csv").write_text("x,y\n1,2\n")
    p.datasets.create("alice", {"name": "nums", "category": "numeric", "directory": str(csv_dir)})
    base = {"name": "t", "dataset": "pics", "template": "image-detection"}
    refused(alice.post("/tasks", {**base, "dataset": "nums"}), 400, "numeric data cannot be labeled")
    refused(alice.post("/tasks", {**base, "template": "text-ner"}), 400, "for text data")
    refused(alice.post("/tasks", {**base, "template": "nope"}), 400, "unknown label_template")
    refused(alice.post("/tasks", {**base, "labels": ["<b>"]}), 400, "not a valid label")
    refused(alice.post("/tasks", {**base, "mode": "collaborative", "subtask_size": 2}), 400, "at least one user")
    refused(alice.post("/tasks", {**base, "mode": "collaborative", "subtask_size": 2, "annotators": ["nobody"]}),
            400, "no account")
    refused(alice.post("/tasks", {**base, "mode": "collaborative", "subtask_size": 0, "annotators": ["bob"]}),
            400, "files per sub-task")
    refused(alice.post("/tasks", {**base, "mode": "collaborative", "subtask_size": 2, "annotators": ["bob"],
                                  "review": True, "reviewers": ["carol"], "policy": "percent",
                                  "policy_value": 300}), 400, "percentage")
    refused(alice.post("/tasks", {**base, "expires_at": "2001-01-01"}), 400, "in the past")
    refused(alice.post("/tasks", {**base, "pre_annotation": "/etc/passwd"}), 403, "outside your directories")
    refused(site["bob"].post("/tasks", base), 404, "no dataset")  # alice's personal dataset
    assert ok(alice.get("/tasks")) == []
    ok(alice.post("/tasks", {**base, "background": False}), 201)
    refused(alice.post("/tasks", {**base, "background": False}), 409, "already have")
    assert len(ok(alice.get("/tasks"))) == 1
