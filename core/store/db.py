"""Engine, sessions and schema migration of the store."""

from __future__ import annotations

import os
import pwd
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import re
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import DatabaseUnavailable
from core.statefiles import private_file

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_REVISION = re.compile(r'^(down_)?revision\s*=\s*["\']?([\w-]+|None)["\']?', re.M)


def head_revisions() -> set[str]:
    """Heads of the migration graph, read from the files (importing alembic costs ~0.6 s)."""
    revs, downs = set(), set()
    for f in (MIGRATIONS / "versions").glob("*.py"):
        for is_down, rev in _REVISION.findall(f.read_text()):
            (downs if is_down else revs).add(rev)
    return revs - downs


def alembic_config(url: str) -> "AlembicConfig":
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _sqlite_pragmas(engine: Engine) -> None:
    # WAL lets the CLI read while a job process writes; busy_timeout waits instead of failing.
    # synchronous=NORMAL is SQLite's advice for WAL: a commit no longer waits for an fsync (two
    # per submission cost more than sbatch itself); a crash of the process or the OS loses
    # nothing; a power cut or an OS crash may roll back the last commits, never corrupt the file.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()


def _not_yours(path: Path) -> DatabaseUnavailable:
    try:
        owner = pwd.getpwuid(path.stat().st_uid).pw_name
    except (OSError, KeyError):
        owner = "another user"
    return DatabaseUnavailable(f"the platform's store {path} belongs to {owner}: its data is the platform's alone",
                               fix=f"use the portal, or run hpcai as {owner} (the site's platform user)")


class Store:
    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            try:
                private_file(path)  # accounts, tokens: the platform's only
                if not os.access(path, os.R_OK | os.W_OK):
                    raise PermissionError(path)
            except PermissionError as exc:
                raise _not_yours(path) from exc
            self.engine = create_engine(url, connect_args={"timeout": 30})
            _sqlite_pragmas(self.engine)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, connect_args=_connect_args(url))
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def at_head(self) -> bool:
        try:
            with self.engine.connect() as conn:
                current = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
        except Exception:  # no table yet (fresh database) or unreachable: let migrate() say which
            return False
        return current == head_revisions()

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent; safe with concurrent callers)."""
        if self.at_head():
            return
        from alembic import command

        try:
            with self._migration_lock(), self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # Concurrent first starts: the second waits here, then finds nothing to do.
                    conn.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
                cfg = alembic_config(self.url)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")  # branches add revisions side by side
        except Exception as exc:
            if self.at_head():  # another process migrated the same database at the same time
                return
            if not isinstance(exc, OperationalError):
                raise
            raise DatabaseUnavailable(
                f"the platform database at {_safe(self.url)} is unreachable: "
                f"{str(exc.orig).strip().splitlines()[0]}",
                fix="check HPCAI_DB_URL / [core] database and that the server runs") from exc

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """SQLite has no advisory locks: two first-time CLI processes serialise on a lock file."""
        if not self.url.startswith("sqlite:///"):
            yield
            return
        import fcntl

        with open(self.url.removeprefix("sqlite:///") + ".migrate.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def tables(self) -> set[str]:
        return set(inspect(self.engine).get_table_names())

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except OperationalError as exc:
                s.rollback()
                if _is_connection_error(exc):
                    raise DatabaseUnavailable(
                        f"the platform database at {_safe(self.url)} is unreachable: "
                        f"{str(exc.orig).strip().splitlines()[0]}",
                        fix="nothing was changed; try again when the database is back") from exc
                raise
            except BaseException:
                s.rollback()
                raise


MAX_ID = 2**31 - 1  # INTEGER primary keys on PostgreSQL; larger ids cannot exist


def id_in_range(value: int) -> bool:
    """A user-given id outside the column's range is simply not found (never a DB error)."""
    return 0 < value <= MAX_ID


def _is_connection_error(exc: OperationalError) -> bool:
    return bool(exc.connection_invalidated) or "connect" in str(exc.orig).lower() \
        or "server closed" in str(exc.orig).lower() or "unable to open database" in str(exc.orig).lower()


def _connect_args(url: str) -> dict[str, object]:
    if url.startswith("postgresql"):
        return {"connect_timeout": 10}
    return {}


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}"
    return url


_stores: dict[str, Store] = {}
_lock = threading.Lock()


def open_store(url: str) -> Store:
    """One migrated Store per URL and process."""
    with _lock:
        store = _stores.get(url)
        if store is None:
            store = Store(url)
            store.migrate()
            _stores[url] = store
        return store
