"""Exports read back by each format's own tooling (pycocotools for COCO), pre-annotation
import, text NER, audio and video tasks saving results, media by HTTP range, and the reader
a training job uses (libaiflow.labeled)."""

from __future__ import annotations

import csv
import json
import struct
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from libaiflow.labeled import class_index, read_labeled
from tests.datasets.conftest import home
from tests.labeling.conftest import images
from tests.labeling.test_collaborative import ok, refused


def rect(label: str, x: float, y: float, w: float, h: float, size: tuple[int, int]) -> dict[str, Any]:
    return {"id": f"b{x}{y}", "from_name": "box", "to_name": "image", "type": "rectanglelabels",
            "original_width": size[0], "original_height": size[1],
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]}}


def poly(label: str, points: list[list[float]], size: tuple[int, int]) -> dict[str, Any]:
    return {"id": f"p{points[0][0]}", "from_name": "polygon", "to_name": "image", "type": "polygonlabels",
            "original_width": size[0], "original_height": size[1],
            "value": {"points": points, "polygonlabels": [label]}}


def make_task(site: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    task = ok(site["alice"].post("/tasks", {"background": False, **body}), 201)
    assert task["state"] == "ready", task
    return task


def all_items(site: dict[str, Any], task: str) -> list[dict[str, Any]]:
    return ok(site["alice"].get(f"/tasks/{task}/items?limit=500"))["items"]


def test_image_exports_coco_voc_yolo_and_pre_annotation(site) -> None:
    from pycocotools.coco import COCO

    p, alice = site["platform"], site["alice"]
    pics = home(p, "alice") / "street"
    images(pics, 2, (200, 100))
    images(pics / "more", 1, (80, 40))
    p.datasets.create("alice", {"name": "street", "category": "image", "directory": str(pics)})
    task = make_task(site, {"name": "boxes", "dataset": "street", "template": "image-boxes-polygons",
                            "labels": ["car", "person"]})
    items = all_items(site, task["id"])
    assert [i["path"] for i in items] == ["img000.png", "img001.png", "more/img000.png"]
    results = {
        items[0]["id"]: [rect("car", 10, 20, 30, 40, (200, 100)), poly("person", [[50, 10], [90, 10], [70, 90]], (200, 100))],
        items[1]["id"]: [rect("person", 0, 0, 50, 50, (200, 100))],
        # no size in the result: the exporter reads it from the image header
        items[2]["id"]: [{**rect("car", 25, 25, 50, 50, (80, 40)), "original_width": None, "original_height": None}],
    }
    for item_id, result in results.items():
        ok(alice.put(f"/items/{item_id}", {"result": result}))
    out = home(p, "alice") / "exports"
    out.mkdir()

    coco_dir = Path(ok(alice.post(f"/tasks/{task['id']}/export", {"format": "coco", "directory": str(out)}))["directory"])
    coco = COCO(str(coco_dir / "annotations.json"))
    assert len(coco.getAnnIds()) == 4 and len(coco.getImgIds()) == 3
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["car", "person"]
    car = coco.loadAnns(coco.getAnnIds(imgIds=[items[0]["id"]], catIds=[1]))[0]
    assert car["bbox"] == pytest.approx([20, 20, 60, 40])
    person = coco.loadAnns(coco.getAnnIds(imgIds=[items[0]["id"]], catIds=[2]))[0]
    assert person["area"] == pytest.approx(0.5 * 80 * 80)  # base 40 % of 200 px, height 80 % of 100 px
    assert coco.annToMask(person).sum() > 0
    small = coco.loadImgs([items[2]["id"]])[0]
    assert (small["width"], small["height"]) == (80, 40)
    assert coco.loadAnns(coco.getAnnIds(imgIds=[items[2]["id"]]))[0]["bbox"] == pytest.approx([20, 10, 40, 20])

    voc_dir = Path(ok(alice.post(f"/tasks/{task['id']}/export", {"format": "voc", "directory": str(out)}))["directory"])
    xml = ET.parse(voc_dir / "Annotations" / "img000.xml").getroot()
    assert xml.findtext("size/width") == "200" and xml.findtext("object/name") == "car"
    assert [xml.findtext(f"object/bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")] == ["21", "21", "80", "60"]
    assert (voc_dir / "Annotations" / "more__img000.xml").exists()

    yolo_dir = Path(ok(alice.post(f"/tasks/{task['id']}/export", {"format": "yolo", "directory": str(out)}))["directory"])
    assert (yolo_dir / "classes.txt").read_text().split() == ["car", "person"]
    lines = (yolo_dir / "labels" / "img000.txt").read_text().splitlines()
    cls, cx, cy, w, h = lines[0].split()
    assert cls == "0" and [float(v) for v in (cx, cy, w, h)] == pytest.approx([0.25, 0.40, 0.30, 0.40])
    seg = [float(v) for v in lines[1].split()[1:]]
    assert lines[1].startswith("1 ") and seg == pytest.approx([0.5, 0.1, 0.9, 0.1, 0.7, 0.9])
    assert "nc: 2" in (yolo_dir / "data.yaml").read_text()
    # Exporting twice never overwrites: a second folder.
    again = ok(alice.post(f"/tasks/{task['id']}/export", {"format": "coco", "directory": str(out)}))
    assert again["directory"] == str(coco_dir) + "-2"
    refused(alice.post(f"/tasks/{task['id']}/export", {"format": "csv", "directory": str(out)}), 400,
            "cannot hold the results")
    refused(alice.post(f"/tasks/{task['id']}/export", {"format": "coco", "directory": "/etc"}), 403, "outside")

    # Pre-annotation: a new task continues from the COCO file; the annotations come back.
    pre = make_task(site, {"name": "continued", "dataset": "street", "template": "image-boxes-polygons",
                           "pre_annotation": str(coco_dir / "annotations.json")})
    back = {i["path"]: i for i in all_items(site, pre["id"])}
    assert all(i["status"] == "labeled" for i in back.values())
    kinds = sorted(r["type"] for r in back["img000.png"]["result"])
    assert kinds == ["polygonlabels", "rectanglelabels"]
    box = next(r for r in back["img000.png"]["result"] if r["type"] == "rectanglelabels")["value"]
    assert [box[k] for k in ("x", "y", "width", "height")] == pytest.approx([10, 20, 30, 40])
    # Publish beside the data, as JSON lines: what a training job reads.
    published = ok(alice.post(f"/tasks/{task['id']}/publish", {"format": "jsonl"}))
    assert published["directory"] == str(pics.resolve()) + "-labels-jsonl"
    samples = read_labeled(published["directory"])
    assert [len(s.boxes) for s in samples] == [1, 1, 1] and samples[0].polygons[0]["label"] == "person"
    assert samples[0].pixels(200, 100)[0] == pytest.approx(("car", 20, 20, 60, 40))
    assert Path(samples[0].file).is_file()


def test_classification_csv_json_and_import(site) -> None:
    p, alice = site["platform"], site["alice"]
    pics = home(p, "alice") / "pets"
    images(pics, 4)
    p.datasets.create("alice", {"name": "pets", "category": "image", "directory": str(pics)})
    labels = home(p, "alice") / "pets.csv"
    labels.write_text("file,label\nimg000.png,cat\nimg001.png,dog\nimg002.png,cat\n")
    task = make_task(site, {"name": "pets", "dataset": "pets", "template": "image-classification",
                            "labels": ["cat", "dog"], "pre_annotation": str(labels)})
    items = all_items(site, task["id"])
    assert [i["summary"] for i in items] == ["cat", "dog", "cat", "-"]
    ok(alice.put(f"/items/{items[3]['id']}", {"result": [{"id": "c", "from_name": "label", "to_name": "image",
                                                          "type": "choices", "value": {"choices": ["dog"]}}]}))
    out = home(p, "alice") / "out"
    out.mkdir()
    d = Path(ok(alice.post(f"/tasks/{task['id']}/export", {"format": "csv", "directory": str(out)}))["directory"])
    with open(d / "labels.csv", newline="") as f:
        assert list(csv.reader(f)) == [["file", "label"], ["img000.png", "cat"], ["img001.png", "dog"],
                                       ["img002.png", "cat"], ["img003.png", "dog"]]
    d = Path(ok(alice.post(f"/tasks/{task['id']}/export", {"format": "json", "directory": str(out)}))["directory"])
    mapping = json.loads((d / "labels.json").read_text())
    assert mapping == {"img000.png": "cat", "img001.png": "dog", "img002.png": "cat", "img003.png": "dog"}
    # The JSON is the label file of the datasets' "file annotation" mode: a training job's dataset.
    ds = p.datasets.create("alice", {"name": "pets-labeled", "category": "image", "directory": str(pics),
                                     "annotation": "file", "label_file": str(d / "labels.json")})
    files, _ = p.datasets.files("alice", ref=ds.id)
    assert [f.label for f in files] == ["cat", "dog", "cat", "dog"]
    d = Path(ok(alice.post(f"/tasks/{task['id']}/export", {"format": "jsonl", "directory": str(out)}))["directory"])
    assert class_index(read_labeled(d)) == {"cat": 0, "dog": 1}
    # Label Studio's own JSON round-trips as a pre-annotation file.
    d = Path(ok(alice.post(f"/tasks/{task['id']}/export", {"format": "labelstudio", "directory": str(out)}))["directory"])
    ok(alice.call("PATCH", f"/tasks/{task['id']}", {"description": "checked"}))
    again = make_task(site, {"name": "pets2", "dataset": "pets", "template": "image-classification",
                             "labels": ["cat", "dog"], "pre_annotation": str(d / "tasks.json")})
    assert [i["summary"] for i in all_items(site, again["id"])] == ["cat", "dog", "cat", "dog"]
    bad = home(p, "alice") / "bad.json"
    bad.write_text('{"images": [], "annotations": [{"image_id": 7}]}')
    refused(alice.post("/tasks", {"name": "bad", "dataset": "pets", "template": "image-detection",
                                  "pre_annotation": str(bad)}), 400, "not a valid COCO JSON file")
    assert len(ok(alice.get("/tasks"))) == 2


def test_text_ner_audio_video_tasks_save_results_and_stream(site) -> None:
    p, alice = site["platform"], site["alice"]
    notes = home(p, "alice") / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("Ada Lovelace worked in London.")
    p.datasets.create("alice", {"name": "notes", "category": "text", "directory": str(notes)})
    ner = make_task(site, {"name": "ner", "dataset": "notes", "template": "text-ner"})
    assert '<Labels name="label" toName="text">' in ok(alice.get(f"/tasks/{ner['id']}"))["config"]
    item = ok(alice.get(f"/items/{all_items(site, ner['id'])[0]['id']}"))
    assert item["data"]["text"] == "Ada Lovelace worked in London."
    spans = [{"id": "e1", "from_name": "label", "to_name": "text", "type": "labels",
              "value": {"start": 0, "end": 12, "text": "Ada Lovelace", "labels": ["PER"]}},
             {"id": "e2", "from_name": "label", "to_name": "text", "type": "labels",
              "value": {"start": 23, "end": 29, "text": "London", "labels": ["LOC"]}}]
    ok(alice.put(f"/items/{item['id']}", {"result": spans}))
    out = home(p, "alice") / "out"
    out.mkdir()
    d = ok(alice.post(f"/tasks/{ner['id']}/export", {"format": "jsonl", "directory": str(out)}))["directory"]
    line = json.loads((Path(d) / "labels.jsonl").read_text())
    assert [(e["label"], e["text"]) for e in line["entities"]] == [("PER", "Ada Lovelace"), ("LOC", "London")]
    # JSON lines come back as pre-annotations of a new NER task.
    again = make_task(site, {"name": "ner2", "dataset": "notes", "template": "text-ner",
                             "pre_annotation": str(Path(d) / "labels.jsonl")})
    assert all_items(site, again["id"])[0]["summary"] == "PER, LOC"

    sounds = home(p, "alice") / "sounds"
    sounds.mkdir()
    wav = wav_bytes(8000, 1.0)
    (sounds / "hello.wav").write_bytes(wav)
    p.datasets.create("alice", {"name": "sounds", "category": "audio", "directory": str(sounds)})
    audio = make_task(site, {"name": "speech", "dataset": "sounds", "template": "audio-segments"})
    item_id = all_items(site, audio["id"])[0]["id"]
    segment = [{"id": "s1", "from_name": "label", "to_name": "audio", "type": "labels",
                "value": {"start": 0.1, "end": 0.6, "channel": 0, "labels": ["speech"]}},
               {"id": "s1", "from_name": "transcription", "to_name": "audio", "type": "textarea",
                "value": {"start": 0.1, "end": 0.6, "text": ["hello"]}}]
    assert ok(alice.put(f"/items/{item_id}", {"result": segment}))["summary"] == "speech, text: hello"
    d = ok(alice.post(f"/tasks/{audio['id']}/export", {"format": "jsonl", "directory": str(out)}))["directory"]
    assert json.loads((Path(d) / "labels.jsonl").read_text())["segments"] == [
        {"start": 0.1, "end": 0.6, "label": "speech", "text": "hello"}]
    # Media stream by HTTP range: the player seeks without loading the whole file.
    got = alice.get(f"/items/{item_id}/media", headers={"Range": "bytes=100-199"})
    assert got.status_code == 206 and got.data == wav[100:200]
    assert got.headers["Content-Range"] == f"bytes 100-199/{len(wav)}" and got.headers["Accept-Ranges"] == "bytes"
    tail = alice.get(f"/items/{item_id}/media", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == wav[-10:]
    assert alice.get(f"/items/{item_id}/media", headers={"Range": f"bytes={len(wav)}-"}).status_code == 416
    whole = alice.get(f"/items/{item_id}/media")
    assert whole.status_code == 200 and whole.data == wav and whole.mimetype in ("audio/x-wav", "audio/wav")

    clips = home(p, "alice") / "clips"
    clips.mkdir()
    (clips / "c.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    p.datasets.create("alice", {"name": "clips", "category": "video", "directory": str(clips)})
    video = make_task(site, {"name": "actions", "dataset": "clips", "template": "video-classification",
                             "labels": ["walk", "run"]})
    vid = all_items(site, video["id"])[0]["id"]
    assert ok(alice.get(f"/items/{vid}"))["data"]["video"] == f"/api/v1/labeling/items/{vid}/media"
    saved = ok(alice.put(f"/items/{vid}", {"result": [{"id": "v", "from_name": "label", "to_name": "video",
                                                       "type": "choices", "value": {"choices": ["run"]}}]}))
    assert saved["summary"] == "run"
    d = ok(alice.post(f"/tasks/{video['id']}/export", {"format": "csv", "directory": str(out)}))["directory"]
    assert (Path(d) / "labels.csv").read_text().splitlines() == ["file,label", "c.mp4,run"]


def wav_bytes(rate: int, seconds: float) -> bytes:
    """A real PCM WAV file: a 440 Hz tone (what the audio player and waveform decode)."""
    import math

    n = int(rate * seconds)
    frames = b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(n))
    header = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", len(frames))
    return header + frames
