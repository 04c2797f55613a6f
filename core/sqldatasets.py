"""What every database-backed dataset shares (PostgreSQL, MySQL/MariaDB, the next one).

A database dataset is one read-only SELECT on a server: the same form, the same stored
options, the same job variables, the same wording of a refused or too-slow query and the same
CSV export. Only the driver differs, so a backend plugin subclasses `SqlDatasetBackend` and
writes `connect`, the driver calls and how its driver words errors.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core.api import DataFile, DatasetBackend, DatasetContext
from core.datakinds import check_query, jsonable
from core.errors import ValidationError

_CONNECTION_KEYS = ("host", "port", "user", "password", "database")


class SqlDatasetBackend(DatasetBackend):
    """A read-only SELECT on a database server; subclasses bring the driver."""

    categories = ("numeric",)
    connection_based = True
    secret_fields = ("password",)
    tabular = True
    default_port: int = 0
    #: the server's name in messages ("PostgreSQL", "MySQL")
    server: str = ""
    #: lower-case fragments of the driver's message for a statement stopped by its timeout
    timeout_markers: tuple[str, ...] = ()
    #: lower-case fragments of the driver's message for a write refused by a read-only session
    read_only_markers: tuple[str, ...] = ()

    def option_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "host": {"type": "string", "title": "IP", "minLength": 1, "x-order": 10,
                         "x-fix": "give the database server's IP or host name"},
                "port": {"type": "integer", "title": "Port", "minimum": 1, "maximum": 65535,
                         "default": self.default_port, "x-order": 20},
                "user": {"type": "string", "title": "User name", "minLength": 1, "x-order": 30},
                "password": {"type": "string", "title": "Password", "x-widget": "password", "x-order": 40,
                             "x-secret": True},
                "database": {"type": "string", "title": "Instance name", "minLength": 1, "x-order": 50,
                             "x-fix": "give the database name"},
                "query": {"type": "string", "title": "Query SQL", "x-widget": "textarea", "minLength": 1,
                          "x-order": 60, "x-fix": "e.g. select * from data_set (no ';' at the end)"},
            },
            "required": ["host", "port", "user", "database", "query"],
        }

    def normalise(self, category: str, options: dict[str, Any], ctx: DatasetContext) -> dict[str, Any]:
        out = {k: options.get(k) for k in _CONNECTION_KEYS}
        out["host"] = str(out["host"]).strip()
        out["query"] = check_query(options.get("query"))
        return out

    def list_files(self, category: str, options: dict[str, Any], ctx: DatasetContext,
                   limit: int) -> tuple[list[DataFile], bool]:
        return [], False

    def job_env(self, options: dict[str, Any], prefix: str, ctx: DatasetContext) -> dict[str, str]:
        return {f"{prefix}_HOST": str(options["host"]), f"{prefix}_PORT": str(options["port"]),
                f"{prefix}_USER": str(options["user"]), f"{prefix}_DATABASE": str(options["database"]),
                f"{prefix}_QUERY": str(options["query"])}

    def where(self, options: dict[str, Any]) -> str:
        return f"{self.server} at {options['host']}:{options['port']}"

    def query_error(self, text: str, ctx: DatasetContext) -> ValidationError:
        """The driver's message `text` for a failed query, as a field-named error."""
        low = text.lower()
        if any(m in low for m in self.timeout_markers):
            return ValidationError(f"the query ran longer than {ctx.setting('statement_timeout_s', 60)} s "
                                   "and was stopped", field="query", fix="make the query cheaper")
        if any(m in low for m in self.read_only_markers):
            return ValidationError(f"the query tried to change data: {text}", field="query",
                                   fix="datasets are read-only: write a SELECT")
        return ValidationError(f"{self.server} refused the query: {text}", field="query")


def write_csv(dest: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write a header and `rows` (NULL as empty) to the CSV file `dest`; return the row count."""
    count = 0
    with open(Path(dest), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for row in rows:
            w.writerow(["" if v is None else jsonable(v) for v in row])
            count += 1
    return count
