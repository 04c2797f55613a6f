"""A past job's request as the training form's values: "Resubmit / clone into the form".

The form shows what the user chose, not what the platform added on its own: the environment
variables it injects (HPCAI_*, MLFLOW_*) are left out, and the name is left for the form to
make a fresh one, so the clone is told apart from the original in My jobs.
"""

from __future__ import annotations

from typing import Any

from core.jobschema import CORE_FIELDS

PLATFORM_ENV_PREFIXES = ("HPCAI_", "MLFLOW_")


def form_values(request: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {k: request[k] for k in CORE_FIELDS
                              if k != "name" and request.get(k) not in (None, "", [], {})}
    env = {k: v for k, v in (request.get("env") or {}).items() if not k.startswith(PLATFORM_ENV_PREFIXES)}
    if env:
        values["env"] = env
    else:
        values.pop("env", None)
    for key, value in (request.get("options") or {}).items():
        if value is not None:
            values.setdefault(key, value)
    return values
