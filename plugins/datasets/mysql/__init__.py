"""MySQL / MariaDB datasets: the proof that a new database backend is one new plugin.

Same rules as PostgreSQL (one read-only SELECT, no trailing `;`, statement timeout, bounded
connect time, the server's message in words). Sessions are `START TRANSACTION READ ONLY`
with `max_statement_time` (MariaDB) or `max_execution_time` (MySQL); previews use an
unbuffered cursor so only the first rows are read off the wire.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from core.api import DataFile, DatasetBackend, DatasetContext, Table
from core.datakinds import check_query, jsonable
from core.errors import ValidationError
from core.hookspecs import hookimpl


def _text(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[1], str):
        return args[1]  # pymysql: (errno, message)
    return str(exc) or type(exc).__name__


class MySQL(DatasetBackend):
    name = "mysql"
    title = "MySQL / MariaDB"
    description = "The rows of a read-only SELECT on a MySQL or MariaDB database"
    categories = ("numeric",)
    connection_based = True
    secret_fields = ("password",)
    tabular = True

    def option_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "host": {"type": "string", "title": "IP", "minLength": 1, "x-order": 10},
                "port": {"type": "integer", "title": "Port", "minimum": 1, "maximum": 65535, "default": 3306,
                         "x-order": 20},
                "user": {"type": "string", "title": "User name", "minLength": 1, "x-order": 30},
                "password": {"type": "string", "title": "Password", "x-widget": "password", "x-order": 40,
                             "x-secret": True},
                "database": {"type": "string", "title": "Instance name", "minLength": 1, "x-order": 50},
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

    def connect(self, options: dict[str, Any], ctx: DatasetContext, statement_timeout_s: float | None = None,
                unbuffered: bool = False) -> Any:
        import pymysql
        import pymysql.cursors

        timeout = max(1, int(float(ctx.setting("connect_timeout_s", 10))))
        stmt = float(statement_timeout_s or ctx.setting("statement_timeout_s", 60))
        where = f"MySQL at {options['host']}:{options['port']}"
        try:
            conn = pymysql.connect(host=options["host"], port=int(options["port"]), user=options["user"],
                                   password=options.get("password") or "", database=options["database"],
                                   connect_timeout=timeout, read_timeout=timeout, charset="utf8mb4",
                                   cursorclass=pymysql.cursors.SSCursor if unbuffered else pymysql.cursors.Cursor)
        except pymysql.MySQLError as exc:
            text = _text(exc)
            low = text.lower()
            field, fix = (("password", "check the user name and password") if "access denied" in low else
                          ("database", "check the instance (database) name") if "unknown database" in low else
                          ("host", "check the IP and port, and that the server runs and accepts TCP connections"))
            raise ValidationError(f"{where} refused the connection: {text}", field=field, fix=fix) from exc
        # The handshake had to come within the connect timeout; queries get the statement's.
        conn._read_timeout = int(stmt) + 30
        try:
            with conn.cursor(pymysql.cursors.Cursor) as cur:
                try:  # MariaDB: seconds; MySQL: milliseconds (SELECT only)
                    cur.execute(f"SET SESSION max_statement_time = {stmt:.3f}")
                except pymysql.MySQLError:
                    cur.execute(f"SET SESSION max_execution_time = {int(stmt * 1000)}")
                cur.execute("START TRANSACTION READ ONLY")
        except pymysql.MySQLError as exc:
            conn.close()
            raise ValidationError(f"{where}: {_text(exc)}", field="host") from exc
        return conn

    def _query_error(self, exc: Exception, ctx: DatasetContext) -> ValidationError:
        text = _text(exc)
        low = text.lower()
        if "max_statement_time" in low or "maximum statement execution time" in low or "interrupted" in low:
            return ValidationError(f"the query ran longer than {ctx.setting('statement_timeout_s', 60)} s "
                                   "and was stopped", field="query", fix="make the query cheaper")
        if "read only transaction" in low or "read-only" in low:
            return ValidationError(f"the query tried to change data: {text}", field="query",
                                   fix="datasets are read-only: write a SELECT")
        return ValidationError(f"MySQL refused the query: {text}", field="query")

    def test_connection(self, options: dict[str, Any], ctx: DatasetContext) -> str:
        import pymysql

        conn = self.connect(options, ctx)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                version = cur.fetchone()[0]
        except pymysql.MySQLError as exc:
            raise self._query_error(exc, ctx) from exc
        finally:
            conn.close()
        return f"connected to {version} as {options['user']} on database {options['database']}"

    def list_files(self, category: str, options: dict[str, Any], ctx: DatasetContext,
                   limit: int) -> tuple[list[DataFile], bool]:
        return [], False

    def preview(self, category: str, options: dict[str, Any], ctx: DatasetContext, rows: int,
                file: str | None = None) -> Table:
        import pymysql

        query = check_query(options.get("query"))
        conn = self.connect(options, ctx, unbuffered=True)
        cur = None
        try:
            cur = conn.cursor()
            cur.execute(query)
            columns = [d[0] for d in cur.description or []]
            got = cur.fetchmany(rows + 1)
        except pymysql.MySQLError as exc:
            raise self._query_error(exc, ctx) from exc
        finally:
            # Closing the socket drops the rest of an unbuffered result (closing the cursor
            # would read it all first).
            result = getattr(cur, "_result", None)
            if result is not None:
                result.unbuffered_active = False  # else its __del__ reads on the closed socket
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - the connection is being thrown away anyway
                pass
        return Table(columns=columns, rows=[[jsonable(v) for v in r] for r in got[:rows]],
                     truncated=len(got) > rows)

    def materialise(self, options: dict[str, Any], ctx: DatasetContext, dest: Any) -> int:
        import pymysql

        query = check_query(options.get("query"))
        conn = self.connect(options, ctx, statement_timeout_s=float(ctx.setting("materialise_timeout_s", 3600)),
                            unbuffered=True)
        count = 0
        try:
            cur = conn.cursor()
            cur.execute(query)
            with open(Path(dest), "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow([d[0] for d in cur.description or []])
                while batch := cur.fetchmany(10000):
                    for row in batch:
                        w.writerow(["" if v is None else jsonable(v) for v in row])
                    count += len(batch)
        except pymysql.MySQLError as exc:
            raise self._query_error(exc, ctx) from exc
        finally:
            conn.close()
        return count

    def job_env(self, options: dict[str, Any], prefix: str, ctx: DatasetContext) -> dict[str, str]:
        return {f"{prefix}_HOST": str(options["host"]), f"{prefix}_PORT": str(options["port"]),
                f"{prefix}_USER": str(options["user"]), f"{prefix}_DATABASE": str(options["database"]),
                f"{prefix}_QUERY": str(options["query"])}


@hookimpl
def hpcai_dataset_backends() -> list[DatasetBackend]:
    return [MySQL()]
