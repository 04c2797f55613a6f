"""PostgreSQL datasets (spec 05 §1.2, F158-F161): a read-only SELECT on a PostgreSQL server.

Every session is read-only (`default_transaction_read_only`) with a statement timeout, and
connects within a bounded time; the server's refusal reaches the user in its own words. A
preview reads through a server-side cursor, so only the first rows ever leave the server.
"""

from __future__ import annotations

import csv
import re
import uuid
from pathlib import Path
from typing import Any

from core.api import DataFile, DatasetBackend, DatasetContext, Table
from core.datakinds import check_query, jsonable
from core.errors import ValidationError
from core.hookspecs import hookimpl

def reason(exc: BaseException) -> str:
    """The server's or the network's message in one line, without libpq's boilerplate."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    if "failed:" in text:
        text = text.rsplit("failed:", 1)[1].strip()
    return re.sub(r"^(FATAL|ERROR):\s*", "", text)


def connection_field(text: str) -> tuple[str, str]:
    """Which form field a connection failure points at, and what to do."""
    low = text.lower()
    if "password" in low or "authentication" in low or "role" in low:
        return "password", "check the user name and password"
    if "database" in low and "does not exist" in low:
        return "database", "check the instance (database) name"
    if "timeout" in low or "timed out" in low:
        return "host", "check the IP and port, and that a firewall lets this server through"
    return "host", "check the IP and port, and that the database server runs and accepts TCP connections"


class PostgreSQL(DatasetBackend):
    name = "postgresql"
    title = "PostgreSQL"
    description = "The rows of a read-only SELECT on a PostgreSQL database"
    categories = ("numeric",)
    connection_based = True
    secret_fields = ("password",)
    tabular = True
    default_port = 5432
    server = "PostgreSQL"

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
        out = {k: options.get(k) for k in ("host", "port", "user", "password", "database")}
        out["host"] = str(out["host"]).strip()
        out["query"] = check_query(options.get("query"))
        return out

    # --- the session --------------------------------------------------------------------------

    def connect(self, options: dict[str, Any], ctx: DatasetContext, statement_timeout_s: float | None = None) -> Any:
        import psycopg

        timeout = float(ctx.setting("connect_timeout_s", 10))
        stmt_ms = int(1000 * (statement_timeout_s or float(ctx.setting("statement_timeout_s", 60))))
        try:
            return psycopg.connect(host=options["host"], port=int(options["port"]), user=options["user"],
                                   password=options.get("password") or "", dbname=options["database"],
                                   connect_timeout=max(1, int(timeout)), application_name="hpcai-datasets",
                                   options=f"-c default_transaction_read_only=on -c statement_timeout={stmt_ms}")
        except psycopg.Error as exc:
            text = reason(exc)
            field, fix = connection_field(text)
            raise ValidationError(f"{self.server} at {options['host']}:{options['port']} refused the "
                                  f"connection: {text}", field=field, fix=fix) from exc

    def _query_error(self, exc: Exception, ctx: DatasetContext) -> ValidationError:
        text = reason(exc)
        if "statement timeout" in text.lower() or "canceling statement" in text.lower():
            return ValidationError(f"the query ran longer than {ctx.setting('statement_timeout_s', 60)} s "
                                   "and was stopped", field="query", fix="make the query cheaper")
        if "read-only transaction" in text.lower():
            return ValidationError(f"the query tried to change data: {text}", field="query",
                                   fix="datasets are read-only: write a SELECT")
        return ValidationError(f"{self.server} refused the query: {text}", field="query")

    def test_connection(self, options: dict[str, Any], ctx: DatasetContext) -> str:
        import psycopg

        with self.connect(options, ctx) as conn:
            try:
                version = conn.execute("SHOW server_version").fetchone()[0]
            except psycopg.Error as exc:
                raise self._query_error(exc, ctx) from exc
        return f"connected to PostgreSQL {version} as {options['user']} on database {options['database']}"

    def list_files(self, category: str, options: dict[str, Any], ctx: DatasetContext,
                   limit: int) -> tuple[list[DataFile], bool]:
        return [], False

    def preview(self, category: str, options: dict[str, Any], ctx: DatasetContext, rows: int,
                file: str | None = None) -> Table:
        import psycopg

        query = check_query(options.get("query"))
        with self.connect(options, ctx) as conn:
            try:
                # A server-side cursor: the server plans for the first rows and sends only those.
                with conn.cursor(name=f"hpcai_preview_{uuid.uuid4().hex[:8]}") as cur:
                    cur.execute(query)
                    got = cur.fetchmany(rows + 1)
                    columns = [d.name for d in cur.description or []]
            except psycopg.Error as exc:
                raise self._query_error(exc, ctx) from exc
            conn.rollback()
        return Table(columns=columns, rows=[[jsonable(v) for v in r] for r in got[:rows]],
                     truncated=len(got) > rows)

    def materialise(self, options: dict[str, Any], ctx: DatasetContext, dest: Any) -> int:
        import psycopg

        query = check_query(options.get("query"))
        count = 0
        timeout = float(ctx.setting("materialise_timeout_s", 3600))
        with self.connect(options, ctx, statement_timeout_s=timeout) as conn:
            try:
                with conn.cursor(name=f"hpcai_export_{uuid.uuid4().hex[:8]}") as cur, \
                        open(Path(dest), "w", newline="", encoding="utf-8") as f:
                    cur.itersize = 10000
                    cur.execute(query)
                    w = csv.writer(f)
                    w.writerow([d.name for d in cur.description or []])
                    for row in cur:
                        w.writerow(["" if v is None else jsonable(v) for v in row])
                        count += 1
            except psycopg.Error as exc:
                raise self._query_error(exc, ctx) from exc
        return count

    def job_env(self, options: dict[str, Any], prefix: str, ctx: DatasetContext) -> dict[str, str]:
        return {f"{prefix}_HOST": str(options["host"]), f"{prefix}_PORT": str(options["port"]),
                f"{prefix}_USER": str(options["user"]), f"{prefix}_DATABASE": str(options["database"]),
                f"{prefix}_QUERY": str(options["query"]),
                f"{prefix}_URL": f"postgresql://{options['user']}@{options['host']}:{options['port']}/{options['database']}"}


@hookimpl
def hpcai_dataset_backends() -> list[DatasetBackend]:
    return [PostgreSQL()]
