"""Standard export formats of labeling tasks, one module each; the COCO, YOLO, classification,
JSON-lines and Label Studio readers double as pre-annotation importers."""

from __future__ import annotations

from core.hookspecs import hookimpl
from core.labeling.api import LabelExporter
from plugins.labeling.exporters.classes import ClassesCsv, ClassesJson
from plugins.labeling.exporters.coco import Coco
from plugins.labeling.exporters.jsonl import JsonLines
from plugins.labeling.exporters.native import LabelStudioJson
from plugins.labeling.exporters.voc import PascalVoc
from plugins.labeling.exporters.yolo import Yolo


@hookimpl
def hpcai_label_exporters() -> list[LabelExporter]:
    return [Coco(), PascalVoc(), Yolo(), JsonLines(), ClassesCsv(), ClassesJson(), LabelStudioJson()]
