"""Label Studio result lists, the one annotation format inside the platform.

Templates name their controls by result kind (below), so importers can build results any
template renders and exporters can read them without knowing the template.
"""

from __future__ import annotations

import uuid
from typing import Any, Iterator

#: result kind -> the control name every template uses for it
FROM_NAME = {"choices": "label", "rectanglelabels": "box", "polygonlabels": "polygon",
             "keypointlabels": "point", "labels": "label", "textarea": "transcription"}
#: media category -> the object name (and task data key) every template uses
TO_NAME = {"image": "image", "text": "text", "audio": "audio", "video": "video"}
KINDS = tuple(FROM_NAME)


def region(kind: str, category: str, value: dict[str, Any], size: tuple[int, int] | None = None,
           region_id: str | None = None) -> dict[str, Any]:
    """One result entry; image geometry in percent of the image, as Label Studio keeps it."""
    out: dict[str, Any] = {"id": region_id or uuid.uuid4().hex[:10], "from_name": FROM_NAME[kind],
                           "to_name": TO_NAME[category], "type": kind, "value": value}
    if size:
        out["original_width"], out["original_height"] = size
    return out


def labels_of(entry: dict[str, Any]) -> list[str]:
    value = entry.get("value") or {}
    kind = entry.get("type", "")
    found = value.get(kind)
    return [str(v) for v in found] if isinstance(found, list) else []


def entries(result: list[dict[str, Any]] | None, *kinds: str) -> Iterator[dict[str, Any]]:
    for entry in result or []:
        if isinstance(entry, dict) and (not kinds or entry.get("type") in kinds):
            yield entry


def size_of(result: list[dict[str, Any]] | None) -> tuple[int, int] | None:
    for entry in entries(result):
        w, h = entry.get("original_width"), entry.get("original_height")
        if isinstance(w, (int, float)) and isinstance(h, (int, float)) and w > 0 and h > 0:
            return int(w), int(h)
    return None


def classification(result: list[dict[str, Any]] | None) -> str | None:
    """The chosen class of a classification result (the first choice)."""
    for entry in entries(result, "choices"):
        got = labels_of(entry)
        if got:
            return got[0]
    return None


def check_result(result: Any, field: str = "result") -> list[dict[str, Any]]:
    """A result as a client sends it: a list of objects with a known type and a value object."""
    from core.errors import ValidationError

    if not isinstance(result, list):
        raise ValidationError("must be a list of regions (Label Studio result JSON)", field=field,
                              fix='send [{"type": "rectanglelabels", "value": {...}, ...}]')
    if len(result) > 5000:
        raise ValidationError(f"has {len(result)} regions, at most 5000 are kept per file", field=field)
    for n, entry in enumerate(result):
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), dict):
            raise ValidationError(f"region {n + 1} is not an object with a 'value' object", field=field)
        if entry.get("type") not in KINDS and entry.get("type") not in ("relation",):
            raise ValidationError(f"region {n + 1} has unknown type {str(entry.get('type'))[:40]!r}",
                                  field=field, fix="use one of: " + ", ".join(KINDS))
    return result
