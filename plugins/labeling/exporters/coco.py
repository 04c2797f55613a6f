"""COCO object-detection JSON (rectangles, polygons, key points); read back by pycocotools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from core.labeling.api import ExportTask, LabeledItem, LabelExporter
from core.labeling.results import entries, labels_of, region
from plugins.labeling.exporters.geometry import box_px, image_size, points_px, polygon_area


class Coco(LabelExporter):
    name = "coco"
    title = "COCO JSON"
    description = "instances JSON: images, categories, annotations (bbox, segmentation, keypoints)"
    accepts = ("rectanglelabels", "polygonlabels", "keypointlabels")
    can_import = True
    suffix = "json"

    def export(self, task: ExportTask, items: Iterable[LabeledItem], dest: Any) -> list[str]:
        cats = {label: n + 1 for n, label in enumerate(task.labels)}
        images: list[dict[str, Any]] = []
        anns: list[dict[str, Any]] = []
        for item in items:
            size = image_size(task, item)
            if size is None:
                continue  # not an image the platform can measure: no annotation can be placed
            w, h = size
            images.append({"id": item.id, "file_name": item.path, "width": w, "height": h})
            for entry in entries(item.result, *self.accepts):
                for label in labels_of(entry):
                    if label not in cats:
                        cats[label] = len(cats) + 1
                    ann = self._annotation(entry, w, h)
                    if ann is not None:
                        anns.append({"id": len(anns) + 1, "image_id": item.id, "category_id": cats[label],
                                     "iscrowd": 0, **ann})
        doc = {"info": {"description": f"hpcai labeling task {task.name}", "version": "1.0"},
               "licenses": [], "images": images, "annotations": anns,
               "categories": [{"id": i, "name": n, "supercategory": ""} for n, i in cats.items()]}
        (Path(dest) / "annotations.json").write_text(json.dumps(doc))
        return ["annotations.json"]

    def _annotation(self, entry: dict[str, Any], w: int, h: int) -> dict[str, Any] | None:
        value = entry["value"]
        if entry["type"] == "rectanglelabels":
            x, y, bw, bh = box_px(value, w, h)
            return {"bbox": [x, y, bw, bh], "area": bw * bh,
                    "segmentation": [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]}
        if entry["type"] == "polygonlabels":
            pts = points_px(value, w, h)
            if len(pts) < 3:
                return None
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            return {"bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                    "area": polygon_area(pts), "segmentation": [[c for p in pts for c in p]]}
        x, y = float(value["x"]) * w / 100, float(value["y"]) * h / 100
        return {"bbox": [x, y, 0, 0], "area": 0, "keypoints": [x, y, 2], "num_keypoints": 1, "segmentation": []}

    def sniff(self, filename: str, text: str) -> bool:
        head = text.lstrip()[:20000]
        return filename.endswith(".json") and head.startswith("{") and '"images"' in head

    def read(self, task: ExportTask, text: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        doc = json.loads(text)
        names = {c["id"]: str(c["name"]) for c in doc.get("categories", [])}
        images = {im["id"]: im for im in doc["images"]}
        by_image: dict[Any, list[dict[str, Any]]] = {}
        for ann in doc.get("annotations", []):
            im = images.get(ann["image_id"])
            if im is None:
                raise ValueError(f"annotation {ann.get('id')} names image {ann['image_id']}, which is not listed")
            w, h = float(im["width"]), float(im["height"])
            label = names.get(ann["category_id"], str(ann["category_id"]))
            seg = ann.get("segmentation")
            if isinstance(seg, list) and seg and isinstance(seg[0], list) and len(seg[0]) >= 6 and \
                    not _is_box(seg[0], ann.get("bbox")):
                pts = [[seg[0][i] * 100 / w, seg[0][i + 1] * 100 / h] for i in range(0, len(seg[0]) - 1, 2)]
                entry = region("polygonlabels", "image", {"points": pts, "polygonlabels": [label]},
                               (int(w), int(h)))
            else:
                x, y, bw, bh = (float(v) for v in ann["bbox"])
                entry = region("rectanglelabels", "image",
                               {"x": x * 100 / w, "y": y * 100 / h, "width": bw * 100 / w, "height": bh * 100 / h,
                                "rotation": 0, "rectanglelabels": [label]}, (int(w), int(h)))
            by_image.setdefault(ann["image_id"], []).append(entry)
        for image_id, result in by_image.items():
            yield str(images[image_id]["file_name"]), result


def _is_box(seg: list[float], bbox: Any) -> bool:
    """A segmentation that is just its bbox's corners (what this exporter writes for rectangles)."""
    if not isinstance(bbox, list) or len(bbox) != 4 or len(seg) != 8:
        return False
    x, y, w, h = bbox
    return [round(v, 3) for v in seg] == [round(v, 3) for v in (x, y, x + w, y, x + w, y + h, x, y + h)]
