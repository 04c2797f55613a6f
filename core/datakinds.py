"""Dataset categories, their file suffixes and annotation modes (spec 05, F152-F173).

Shared data: the file and HDFS backends both filter files by these rules and label them the
same way, so the rules live here once instead of in each plugin.
"""

from __future__ import annotations

import datetime
import decimal
import re
from typing import Any

from core.errors import ValidationError

CATEGORIES: dict[str, str] = {
    "numeric": "Numeric data",
    "image": "Image data",
    "video": "Video data",
    "audio": "Audio data",
    "text": "Text data",
    "other": "Other (TFRecord)",
}

SUFFIXES: dict[str, tuple[str, ...]] = {
    "numeric": ("csv", "tsv"),
    "image": ("bmp", "jpg", "jpeg", "gif", "png", "svg", "webp"),
    "video": ("mp4",),
    "audio": ("flac", "mp3", "m4a", "ogg", "wav"),
    "text": ("txt", "json"),
    "other": ("tfrecord", "json"),
}

ANNOTATIONS: dict[str, str] = {
    "none": "None (test set)",
    "file": "File annotation (JSON label file)",
    "folder": "Folder-name annotation",
    "filename": "File-name annotation (1-pic.png -> 1)",
}

#: categories whose files may be annotated (numeric and TFRecord cannot)
ANNOTATED = ("image", "video", "audio", "text")

#: The manual leaves the naming rules open (spec 05 "doc gap"): letters, digits, CJK, _ - . and
#: inner spaces, 1-64 characters, starting with a letter, digit or CJK character.
NAME = re.compile(r"^[A-Za-z0-9\u4e00-\u9fff][A-Za-z0-9\u4e00-\u9fff_.\- ]{0,63}$")


def check_name(name: Any, field: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("is required", field=field, fix="give the dataset a name")
    name = name.strip()
    if not NAME.match(name):
        raise ValidationError(f"'{name}' is not a valid dataset name", field=field,
                              fix="use 1-64 letters, digits, Chinese characters, _ - . or spaces, "
                                  "starting with a letter or digit")
    return name


def check_category(category: Any) -> str:
    if category not in CATEGORIES:
        raise ValidationError(f"unknown category {category!r}", field="category",
                              fix="choose one of: " + ", ".join(CATEGORIES))
    return str(category)


def check_suffixes(category: str, suffixes: Any, field: str = "file_suffix") -> list[str]:
    """At least one suffix, each allowed for the category (F154-F168)."""
    allowed = SUFFIXES[category]
    if isinstance(suffixes, str):
        suffixes = [s for s in re.split(r"[,\s]+", suffixes) if s]
    if not suffixes:
        raise ValidationError("select at least one file suffix", field=field,
                              fix="choose from: " + ", ".join(allowed))
    out: list[str] = []
    for s in suffixes:
        s = str(s).lower().lstrip(".")
        if s not in allowed:
            raise ValidationError(f"suffix '{s}' is not allowed for {CATEGORIES[category].lower()}",
                                  field=field, fix="choose from: " + ", ".join(allowed))
        if s not in out:
            out.append(s)
    return out


def suffix_of(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def label_for(rel_path: str, mode: str, labels: dict[str, Any] | None = None) -> str | None:
    """The class of one file under an annotation mode (F169-F172)."""
    if mode == "folder":
        parts = rel_path.split("/")
        return parts[-2] if len(parts) > 1 else None
    if mode == "filename":
        base = rel_path.rsplit("/", 1)[-1]
        return base.split("-", 1)[0] if "-" in base else None
    if mode == "file" and labels is not None:
        base = rel_path.rsplit("/", 1)[-1]
        value = labels.get(rel_path, labels.get(base))
        return None if value is None else str(value)
    return None


def check_annotation(category: str, options: dict[str, Any]) -> str:
    mode = options.get("annotation") or "none"
    if mode not in ANNOTATIONS:
        raise ValidationError(f"unknown annotation mode {mode!r}", field="annotation",
                              fix="choose one of: " + ", ".join(ANNOTATIONS))
    if mode != "none" and category not in ANNOTATED:
        raise ValidationError(f"{CATEGORIES[category].lower()} cannot be annotated", field="annotation",
                              fix="choose 'none'")
    if mode == "file":
        label_file = str(options.get("label_file") or "")
        if not label_file:
            raise ValidationError("is required for file annotation", field="label_file",
                                  fix="choose the JSON label file of the data directory")
        if suffix_of(label_file) != "json":
            raise ValidationError("only JSON label files are supported", field="label_file",
                                  fix="choose a .json file")
    return mode


# --- database datasets (F159): one read-only SELECT ---------------------------------------

_COMMENT = re.compile(r"^\s*(--[^\n]*\n|/\*.*?\*/)", re.S)


def check_query(query: Any) -> str:
    """F159 plus read-only: one SELECT (or WITH ... SELECT / VALUES / TABLE), no trailing `;`."""
    text = str(query or "").strip()
    if not text:
        raise ValidationError("is required", field="query", fix="write a query such as select * from data_set")
    if text.endswith(";"):
        raise ValidationError("must not end with a semicolon", field="query",
                              fix="remove the ';' at the end, e.g. select * from data_set")
    head = text
    while (m := _COMMENT.match(head)) is not None:
        head = head[m.end():]
    word = (re.match(r"\s*\(*\s*(\w+)", head) or [None, ""])[1].lower()
    if word not in ("select", "with", "values", "table"):
        raise ValidationError(f"only SELECT queries are allowed, this one starts with '{word or head[:10]}'",
                              field="query", fix="write a SELECT query; datasets are read-only")
    return text


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (datetime.date, datetime.time, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)
