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


def _checked(value: Any, what: str, shown: str, limit: int, pattern: re.Pattern[str], allowed: str) -> str:
    """`value` if it is a non-empty string of at most `limit` characters matching `pattern`;
    `shown` is how the too-long message names it."""
    if not isinstance(value, str) or not value:
        raise LibaiflowError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > limit:
        raise LibaiflowError(f"{shown} is {len(value)} characters long; the limit is {limit}")
    if not pattern.fullmatch(value):
        bad = sorted({c for c in value if not pattern.fullmatch(c)})
        raise LibaiflowError(f"{what} {value!r} contains {''.join(bad)!r}: use only {allowed}")
    return value


def experiment_name(name: Any) -> str:
    return _checked(name, "experiment_name", "experiment_name", MAX_EXPERIMENT_NAME, _EXPERIMENT_NAME,
                    "a-z, A-Z, 0-9, _, - and Chinese characters (e.g. 'mnist_tf2-cpu')")


def key(value: Any, what: str = "key") -> str:
    _checked(value, what, f"{what} {str(value)[:40]!r}...", MAX_KEY, _KEY, "letters, digits, _, -, ., space and /")
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
