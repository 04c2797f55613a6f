"""YOLO txt: labels/<image>.txt with `class cx cy w h` (normalised) per box, `class x1 y1 ...`
per polygon (YOLO segmentation), classes.txt and a data.yaml naming them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from core.labeling.api import ExportTask, LabeledItem, LabelExporter
from core.labeling.results import entries, labels_of
from plugins.labeling.exporters.geometry import stem


class Yolo(LabelExporter):
    name = "yolo"
    title = "YOLO txt"
    description = "labels/<image>.txt (class cx cy w h, normalised), classes.txt, data.yaml"
    accepts = ("rectanglelabels", "polygonlabels")
    suffix = "txt"

    def export(self, task: ExportTask, items: Iterable[LabeledItem], dest: Any) -> list[str]:
        dest = Path(dest)
        (dest / "labels").mkdir(parents=True, exist_ok=True)
        classes = list(task.labels)
        written, images = [], []
        for item in items:
            lines = []
            for entry in entries(item.result, *self.accepts):
                v = entry["value"]
                for label in labels_of(entry):
                    if label not in classes:
                        classes.append(label)
                    c = classes.index(label)
                    if entry["type"] == "rectanglelabels":
                        cx, cy = (v["x"] + v["width"] / 2) / 100, (v["y"] + v["height"] / 2) / 100
                        lines.append(f"{c} {cx:.6f} {cy:.6f} {v['width'] / 100:.6f} {v['height'] / 100:.6f}")
                    else:
                        lines.append(f"{c} " + " ".join(f"{p / 100:.6f}" for pt in v["points"] for p in pt))
            if not lines:
                continue
            name = f"labels/{stem(item.path)}.txt"
            (dest / name).write_text("\n".join(lines) + "\n")
            written.append(name)
            images.append(item.full_path)
        (dest / "classes.txt").write_text("\n".join(classes) + "\n")
        (dest / "images.txt").write_text("\n".join(images) + ("\n" if images else ""))
        names = ", ".join(json.dumps(c) for c in classes)
        (dest / "data.yaml").write_text(f"path: {dest}\ntrain: images.txt\nval: images.txt\n"
                                        f"nc: {len(classes)}\nnames: [{names}]\n")
        return written + ["classes.txt", "images.txt", "data.yaml"]
