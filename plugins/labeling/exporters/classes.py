"""Classification labels as CSV (file,label) and JSON ({"file": "label"}), both importable."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from core.labeling.api import ExportTask, LabeledItem, LabelExporter
from core.labeling.results import classification, region


def _rows(items: Iterable[LabeledItem]) -> Iterator[tuple[str, str]]:
    for item in items:
        label = classification(item.result)
        if label is not None:
            yield item.path, label


class ClassesCsv(LabelExporter):
    name = "csv"
    title = "Classification CSV"
    description = "labels.csv: file,label (the path relative to the dataset)"
    accepts = ("choices",)
    can_import = True
    suffix = "csv"

    def export(self, task: ExportTask, items: Iterable[LabeledItem], dest: Any) -> list[str]:
        with open(Path(dest) / "labels.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["file", "label"])
            w.writerows(_rows(items))
        return ["labels.csv"]

    def sniff(self, filename: str, text: str) -> bool:
        return filename.endswith(".csv")

    def read(self, task: ExportTask, text: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        reader = csv.reader(io.StringIO(text))
        for number, row in enumerate(reader, start=1):
            if number == 1 and [c.strip().lower() for c in row[:2]] == ["file", "label"]:
                continue
            if len(row) < 2:
                raise ValueError(f"line {number}: expected file,label")
            yield row[0], [region("choices", task.category, {"choices": [row[1]]})]


class ClassesJson(LabelExporter):
    name = "json"
    title = "Classification JSON"
    description = 'labels.json: {"file": "label"}, the label file a dataset\'s file annotation mode reads'
    accepts = ("choices",)
    can_import = True
    suffix = "json"

    def export(self, task: ExportTask, items: Iterable[LabeledItem], dest: Any) -> list[str]:
        (Path(dest) / "labels.json").write_text(json.dumps(dict(_rows(items)), ensure_ascii=False, indent=1))
        return ["labels.json"]

    def sniff(self, filename: str, text: str) -> bool:
        if not filename.endswith(".json") or not text.lstrip().startswith("{"):
            return False
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            return False
        return isinstance(doc, dict) and all(isinstance(v, (str, int)) for v in doc.values())

    def read(self, task: ExportTask, text: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError('expected {"file": "label", ...}')
        for key, label in doc.items():
            yield str(key), [region("choices", task.category, {"choices": [str(label)]})]
