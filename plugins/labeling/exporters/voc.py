"""Pascal VOC XML: one Annotations/<image>.xml per image with its boxes (xmin ... ymax, pixels)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable
from xml.etree import ElementTree as ET

from core.labeling.api import ExportTask, LabeledItem, LabelExporter
from core.labeling.results import entries, labels_of
from plugins.labeling.exporters.geometry import box_px, image_size, stem


def _sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


class PascalVoc(LabelExporter):
    name = "voc"
    title = "Pascal VOC XML"
    description = "Annotations/<image>.xml with <object><name/><bndbox/></object> per box"
    accepts = ("rectanglelabels",)
    suffix = "xml"

    def export(self, task: ExportTask, items: Iterable[LabeledItem], dest: Any) -> list[str]:
        out_dir = Path(dest) / "Annotations"
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for item in items:
            boxes = list(entries(item.result, "rectanglelabels"))
            size = image_size(task, item) if boxes else None
            if size is None:
                continue
            w, h = size
            root = ET.Element("annotation")
            _sub(root, "folder", Path(task.root).name)
            _sub(root, "filename", item.path.rsplit("/", 1)[-1])
            _sub(root, "path", item.full_path)
            _sub(_sub(root, "source"), "database", "hpcai")
            sz = _sub(root, "size")
            _sub(sz, "width", w), _sub(sz, "height", h), _sub(sz, "depth", 3)
            _sub(root, "segmented", 0)
            for entry in boxes:
                x, y, bw, bh = box_px(entry["value"], w, h)
                for label in labels_of(entry):
                    obj = _sub(root, "object")
                    _sub(obj, "name", label), _sub(obj, "pose", "Unspecified")
                    _sub(obj, "truncated", 0), _sub(obj, "difficult", 0)
                    bb = _sub(obj, "bndbox")
                    # VOC pixel indices start at 1
                    _sub(bb, "xmin", max(1, round(x) + 1)), _sub(bb, "ymin", max(1, round(y) + 1))
                    _sub(bb, "xmax", min(w, round(x + bw))), _sub(bb, "ymax", min(h, round(y + bh)))
            name = f"Annotations/{stem(item.path)}.xml"
            ET.ElementTree(root).write(Path(dest) / name, encoding="utf-8", xml_declaration=True)
            written.append(name)
        return written
