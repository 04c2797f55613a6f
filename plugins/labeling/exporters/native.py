"""Label Studio's own JSON export (a list of tasks with annotations): lossless for every template,
and what a team coming from Label Studio brings as its pre-annotation file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from core.labeling.api import ExportTask, LabeledItem, LabelExporter
from core.labeling.results import KINDS


class LabelStudioJson(LabelExporter):
    name = "labelstudio"
    title = "Label Studio JSON"
    description = "tasks.json: [{id, data, annotations: [{result}]}], Label Studio's export format"
    accepts = KINDS
    can_import = True
    suffix = "json"

    def export(self, task: ExportTask, items: Iterable[LabeledItem], dest: Any) -> list[str]:
        key = "image" if task.category == "image" else task.category
        with open(Path(dest) / "tasks.json", "w", encoding="utf-8") as f:
            f.write("[")
            for n, item in enumerate(items):
                doc = {"id": item.id, "data": {key: item.full_path, "path": item.path},
                       "annotations": [{"result": item.result, "completed_by": item.labeled_by,
                                        "created_at": item.labeled_at}] if item.status == "labeled" else []}
                f.write(("," if n else "") + "\n" + json.dumps(doc, ensure_ascii=False))
            f.write("\n]\n")
        return ["tasks.json"]

    def sniff(self, filename: str, text: str) -> bool:
        return filename.endswith(".json") and text.lstrip().startswith("[")

    def read(self, task: ExportTask, text: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        doc = json.loads(text)
        if not isinstance(doc, list):
            raise ValueError("expected a list of tasks")
        for n, t in enumerate(doc, start=1):
            data = t.get("data") or {}
            key = data.get("path") or next((v for v in data.values() if isinstance(v, str)), None)
            if not key:
                raise ValueError(f"task {n} has no file in its data")
            found = (t.get("annotations") or []) + (t.get("predictions") or [])
            result = found[0].get("result") if found else None
            if result:
                yield str(key).rsplit("?d=", 1)[-1], list(result)
