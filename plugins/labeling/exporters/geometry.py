"""Label Studio geometry (percent of the image) to pixels and back."""

from __future__ import annotations

from typing import Any

from core.labeling.api import ExportTask, LabeledItem
from core.labeling.results import size_of


def image_size(task: ExportTask, item: LabeledItem) -> tuple[int, int] | None:
    """From the result (Label Studio records the size it drew on), else the image's header."""
    return size_of(item.result) or task.image_size(item.path)


def box_px(value: dict[str, Any], w: int, h: int) -> tuple[float, float, float, float]:
    """x, y, width, height in pixels (rotation is not kept by these formats)."""
    return (float(value["x"]) * w / 100, float(value["y"]) * h / 100,
            float(value["width"]) * w / 100, float(value["height"]) * h / 100)


def points_px(value: dict[str, Any], w: int, h: int) -> list[tuple[float, float]]:
    return [(float(x) * w / 100, float(y) * h / 100) for x, y in value["points"]]


def polygon_area(points: list[tuple[float, float]]) -> float:
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1]):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2


def stem(path: str) -> str:
    """A flat, unique file stem for per-image files (a/b/c.png -> a__b__c)."""
    base = path.rsplit(".", 1)[0] if "." in path.rsplit("/", 1)[-1] else path
    return base.replace("/", "__")
