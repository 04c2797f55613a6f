"""MySQL / MariaDB datasets: the proof that a new database backend is one new plugin.

Same rules as PostgreSQL (one read-only SELECT, no trailing `;`, statement timeout, bounded
connect time, the server's message in words). Sessions are `START TRANSACTION READ ONLY`
with `max_statement_time` (MariaDB) or `max_execution_time` (MySQL); previews use an
unbuffered cursor so only the first rows are read off the wire.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.api import DatasetBackend, DatasetContext, Table
from core.datakinds import check_query, jsonable
from core.errors import ValidationError
from core.hookspecs import hookimpl
from core.sqldatasets import SqlDatasetBackend, write_csv


def _text(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[1], str):
        return args[1]  # pymysql: (errno, message)
    return str(exc) or type(exc).__name__


class MySQL(SqlDatasetBackend):
    name = "mysql"
    title = "MySQL / MariaDB"
    description = "The rows of a read-only SELECT on a MySQL or MariaDB database"
    default_port = 3306
    server = "MySQL"
    timeout_markers = ("max_statement_time", "maximum statement execution time", "interrupted")
    read_only_markers = ("read only transaction", "read-only")

    def connect(self, options: dict[str, Any], ctx: DatasetContext, statement_timeout_s: float | None = None,
                unbuffered: bool = False) -> Any:
        import pymysql
        import pymysql.cursors

        timeout = max(1, int(float(ctx.setting("connect_timeout_s", 10))))
        stmt = float(statement_timeout_s or ctx.setting("statement_timeout_s", 60))
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
            raise ValidationError(f"{self.where(options)} refused the connection: {text}",
                                  field=field, fix=fix) from exc
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
            raise ValidationError(f"{self.where(options)}: {_text(exc)}", field="host") from exc
        return conn

    def test_connection(self, options: dict[str, Any], ctx: DatasetContext) -> str:
        import pymysql

        conn = self.connect(options, ctx)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                version = cur.fetchone()[0]
        except pymysql.MySQLError as exc:
            raise self.query_error(_text(exc), ctx) from exc
        finally:
            conn.close()
        return f"connected to {version} as {options['user']} on database {options['database']}"

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
            raise self.query_error(_text(exc), ctx) from exc
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

        def rows(cur: Any) -> Iterator[Any]:
            while batch := cur.fetchmany(10000):
                yield from batch

        try:
            cur = conn.cursor()
            cur.execute(query)
            return write_csv(dest, [d[0] for d in cur.description or []], rows(cur))
        except pymysql.MySQLError as exc:
            raise self.query_error(_text(exc), ctx) from exc
        finally:
            conn.close()


@hookimpl
def hpcai_dataset_backends() -> list[DatasetBackend]:
    return [MySQL()]
