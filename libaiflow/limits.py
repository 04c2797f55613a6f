"""The documented limits of the libaiflow API (spec 12 §B.6), checked before anything is sent.

Experiment names: a-z, A-Z, 0-9, `_`, `-` and Chinese characters, at most 255.
Metric/param/tag keys: letters, digits, `_`, `-`, `.`, space and `/`, at most 250.
Values: at most 5000 characters; metric values are numbers; steps are whole numbers.
"""

from __future__ import annotations

import numbers
import posixpath
import re
from typing import Any

from libaiflow.errors import LibaiflowError

MAX_EXPERIMENT_NAME = 255
MAX_KEY = 250
MAX_VALUE = 5000

# CJK Unified Ideographs, Extension A and the compatibility block: "Chinese characters".
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_EXPERIMENT_NAME = re.compile(rf"[A-Za-z0-9_\-{_CJK}]+")
_KEY = re.compile(r"[\w\-. /]+")  # \w: letters and digits of any script, and _


def experiment_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise LibaiflowError(f"experiment_name must be a non-empty string, got {name!r}")
    if len(name) > MAX_EXPERIMENT_NAME:
        raise LibaiflowError(f"experiment_name is {len(name)} characters long; the limit is "
                             f"{MAX_EXPERIMENT_NAME}")
    if not _EXPERIMENT_NAME.fullmatch(name):
        bad = sorted({c for c in name if not _EXPERIMENT_NAME.fullmatch(c)})
        raise LibaiflowError(f"experiment_name {name!r} contains {''.join(bad)!r}: use only a-z, A-Z, "
                             "0-9, _, - and Chinese characters (e.g. 'mnist_tf2-cpu')")
    return name


def key(value: Any, what: str = "key") -> str:
    if not isinstance(value, str) or not value:
        raise LibaiflowError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > MAX_KEY:
        raise LibaiflowError(f"{what} {value[:40]!r}... is {len(value)} characters long; the limit "
                             f"is {MAX_KEY}")
    if not _KEY.fullmatch(value):
        bad = sorted({c for c in value if not _KEY.fullmatch(c)})
        raise LibaiflowError(f"{what} {value!r} contains {''.join(bad)!r}: use only letters, digits, "
                             "_, -, ., space and /")
    norm = posixpath.normpath(value)
    if norm != value or norm.startswith(("/", "..")) or norm == ".":
        raise LibaiflowError(f"{what} {value!r} reads as a file path that is not unique (it would "
                             f"become {norm!r}): drop leading or doubled '/' and '.' parts")
    return value


def text_value(value: Any, what: str) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_VALUE:
        raise LibaiflowError(f"{what} is {len(text)} characters long; the limit is {MAX_VALUE} "
                             "(log long text with log_text instead)")
    return text


def metric_value(value: Any, name: str) -> float:
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise LibaiflowError(f"metric {name!r}: value must be a number, got {value!r}")
    if isinstance(value, numbers.Real):
        return float(value)
    try:  # numpy and torch scalars, 0-d arrays and tensors
        return float(value)
    except (TypeError, ValueError):
        raise LibaiflowError(f"metric {name!r}: value must be a number, got "
                             f"{type(value).__name__}") from None


def step(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise LibaiflowError(f"step must be a whole number, got {value!r}")
    return int(value)


def tags(values: Any, what: str = "tags") -> dict[str, str]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise LibaiflowError(f"{what} must be a dict of name -> value, got {type(values).__name__}")
    return {key(k, f"{what} key"): text_value(v, f"{what}[{k!r}]") for k, v in values.items()}


def artifact_file(path: Any) -> str:
    """A POSIX path relative to the run's artifact root, e.g. `dir/file.png`."""
    if not isinstance(path, str) or not path:
        raise LibaiflowError(f"artifact_file must be a non-empty string, got {path!r}")
    norm = posixpath.normpath(path)
    if "\\" in path or path.startswith("/") or norm.startswith("..") or norm in (".", ""):
        raise LibaiflowError(f"artifact_file {path!r} must be a POSIX path relative to the run's "
                             "artifact root, e.g. 'plots/loss.png'")
    return norm
