"""Read a labeled dataset that a labeling task exported or published (the JSON-lines format).

    from libaiflow.labeled import read_labeled
    for sample in read_labeled("/data/pics-labels-jsonl"):
        sample.file, sample.label, sample.boxes    # boxes: (label, x, y, w, h) in pixels when sized

This is the one reader training code and the pipeline designer's image-dataset component use:
`read_labeled(directory)` returns every labeled file with its class (classification), its boxes
and polygons (percent of the image, as Label Studio keeps them; `pixels()` turns a box into
pixels given the image size), its text entities and its audio/video segments. Pure standard
library: it runs inside any job image.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

MANIFEST = "labels.jsonl"


@dataclass
class LabeledSample:
    file: str  # the file's full path
    path: str  # relative to the dataset
    label: str | None = None
    boxes: list[dict[str, Any]] = field(default_factory=list)  # {label, x, y, width, height} in percent
    polygons: list[dict[str, Any]] = field(default_factory=list)  # {label, points: [[x, y], ...]} percent
    points: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)  # {start, end, label, text}
    segments: list[dict[str, Any]] = field(default_factory=list)  # {start, end, label, text} seconds
    result: list[dict[str, Any]] = field(default_factory=list)  # the raw Label Studio result

    def pixels(self, width: int, height: int) -> list[tuple[str, float, float, float, float]]:
        """The boxes as (label, x, y, w, h) in pixels of a `width` x `height` image."""
        return [(b["label"], b["x"] * width / 100, b["y"] * height / 100, b["width"] * width / 100,
                 b["height"] * height / 100) for b in self.boxes]


def iter_labeled(directory: str | Path) -> Iterator[LabeledSample]:
    path = Path(directory)
    manifest = path / MANIFEST if path.is_dir() else path
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} not found: export or publish the labeling task in the "
                                "'JSON lines' format first")
    with open(manifest, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            yield LabeledSample(file=row["file"], path=row["path"], label=row.get("label"),
                                boxes=row.get("boxes") or [], polygons=row.get("polygons") or [],
                                points=row.get("points") or [], entities=row.get("entities") or [],
                                segments=row.get("segments") or [], result=row.get("result") or [])


def read_labeled(directory: str | Path) -> list[LabeledSample]:
    """Every labeled file of an exported/published task (`<dir>/labels.jsonl`)."""
    return list(iter_labeled(directory))


def class_index(samples: list[LabeledSample]) -> dict[str, int]:
    """Classes in sorted order -> 0..n-1 (the targets of a classification training job)."""
    return {name: n for n, name in enumerate(sorted({s.label for s in samples if s.label is not None}))}
