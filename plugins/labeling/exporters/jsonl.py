"""JSON lines, one labeled file a line: the manifest training code reads (libaiflow.labeled).

{"file": full path, "path": relative, "label": class or null, "entities": [{start, end, label,
text}], "segments": [{start, end, label, text}], "boxes": [...], "polygons": [...], "result": [...]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from core.labeling.api import ExportTask, LabeledItem, LabelExporter
from core.labeling.results import classification, entries, labels_of, region


def flatten(result: list[dict[str, Any]]) -> dict[str, Any]:
    """The result in plain words: entities (text spans), segments (time), boxes and polygons (percent)."""
    texts = {e.get("id"): " ".join((e["value"].get("text") or [])) for e in entries(result, "textarea")}
    out: dict[str, Any] = {"label": classification(result), "entities": [], "segments": [], "boxes": [],
                           "polygons": [], "points": []}
    for e in entries(result, "labels", "rectanglelabels", "polygonlabels", "keypointlabels"):
        v = e["value"]
        for label in labels_of(e):
            if e["type"] == "labels" and e.get("to_name") == "text":
                out["entities"].append({"start": v.get("start"), "end": v.get("end"), "label": label,
                                        "text": v.get("text")})
            elif e["type"] == "labels":  # a time segment of audio (or a video's sound track)
                out["segments"].append({"start": v.get("start"), "end": v.get("end"), "label": label,
                                        "text": texts.get(e.get("id"), "")})
            elif e["type"] == "rectanglelabels":
                out["boxes"].append({"label": label, "x": v["x"], "y": v["y"], "width": v["width"],
                                     "height": v["height"]})
            elif e["type"] == "polygonlabels":
                out["polygons"].append({"label": label, "points": v["points"]})
            else:
                out["points"].append({"label": label, "x": v["x"], "y": v["y"]})
    return out


class JsonLines(LabelExporter):
    name = "jsonl"
    title = "JSON lines"
    description = "labels.jsonl: one labeled file per line (text entities, audio segments, any result)"
    accepts = ("labels", "textarea", "choices", "rectanglelabels", "polygonlabels", "keypointlabels")
    can_import = True
    suffix = "jsonl"

    def export(self, task: ExportTask, items: Iterable[LabeledItem], dest: Any) -> list[str]:
        with open(Path(dest) / "labels.jsonl", "w", encoding="utf-8") as f:
            for item in items:
                if item.status != "labeled":
                    continue
                line = {"file": item.full_path, "path": item.path, **flatten(item.result), "result": item.result}
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
        return ["labels.jsonl"]

    def sniff(self, filename: str, text: str) -> bool:
        return filename.endswith(".jsonl")

    def read(self, task: ExportTask, text: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {number}: {exc.msg}") from None
            key = row.get("path") or row.get("file")
            if not key:
                raise ValueError(f"line {number} names no file ('path' or 'file')")
            if isinstance(row.get("result"), list):
                yield str(key), row["result"]
                continue
            result = []
            for ent in row.get("entities") or []:
                result.append(region("labels", "text", {"start": int(ent["start"]), "end": int(ent["end"]),
                                                        "text": ent.get("text", ""), "labels": [str(ent["label"])]}))
            if row.get("label") is not None:
                result.append(region("choices", task.category, {"choices": [str(row["label"])]}))
            yield str(key), result
