"""PostgreSQL datasets (spec 05 §1.2, F158-F161): a read-only SELECT on a PostgreSQL server.

Every session is read-only (`default_transaction_read_only`) with a statement timeout, and
connects within a bounded time; the server's refusal reaches the user in its own words. A
preview reads through a server-side cursor, so only the first rows ever leave the server.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from core.api import DatasetBackend, DatasetContext, Table
from core.datakinds import check_query, jsonable
from core.errors import ValidationError
from core.hookspecs import hookimpl
from core.sqldatasets import SqlDatasetBackend, write_csv


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


class PostgreSQL(SqlDatasetBackend):
    name = "postgresql"
    title = "PostgreSQL"
    description = "The rows of a read-only SELECT on a PostgreSQL database"
    default_port = 5432
    server = "PostgreSQL"
    timeout_markers = ("statement timeout", "canceling statement")
    read_only_markers = ("read-only transaction",)

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
            raise ValidationError(f"{self.where(options)} refused the connection: {text}",
                                  field=field, fix=fix) from exc

    def test_connection(self, options: dict[str, Any], ctx: DatasetContext) -> str:
        import psycopg

        with self.connect(options, ctx) as conn:
            try:
                version = conn.execute("SHOW server_version").fetchone()[0]
            except psycopg.Error as exc:
                raise self.query_error(reason(exc), ctx) from exc
        return f"connected to PostgreSQL {version} as {options['user']} on database {options['database']}"

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
                raise self.query_error(reason(exc), ctx) from exc
            conn.rollback()
        return Table(columns=columns, rows=[[jsonable(v) for v in r] for r in got[:rows]],
                     truncated=len(got) > rows)

    def materialise(self, options: dict[str, Any], ctx: DatasetContext, dest: Any) -> int:
        import psycopg

        query = check_query(options.get("query"))
        timeout = float(ctx.setting("materialise_timeout_s", 3600))
        with self.connect(options, ctx, statement_timeout_s=timeout) as conn:
            try:
                with conn.cursor(name=f"hpcai_export_{uuid.uuid4().hex[:8]}") as cur:
                    cur.itersize = 10000
                    cur.execute(query)
                    return write_csv(dest, [d.name for d in cur.description or []], cur)
            except psycopg.Error as exc:
                raise self.query_error(reason(exc), ctx) from exc

    def job_env(self, options: dict[str, Any], prefix: str, ctx: DatasetContext) -> dict[str, str]:
        url = f"postgresql://{options['user']}@{options['host']}:{options['port']}/{options['database']}"
        return {**super().job_env(options, prefix, ctx), f"{prefix}_URL": url}


@hookimpl
def hpcai_dataset_backends() -> list[DatasetBackend]:
    return [PostgreSQL()]
