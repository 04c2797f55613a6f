"""PostgreSQL and MariaDB datasets against the real servers tests/services/*.sh start.

Read-only sessions, statement timeouts, bounded connection time with the server's message in
words, encrypted passwords that are never shown back, queries refused before they run.
"""

from __future__ import annotations

import socket
import threading
import uuid
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from core.errors import ValidationError
from core.store import DatasetRow
from tests.datasets.conftest import make_platform, scratch

pytestmark = pytest.mark.integration


def parts(url: str) -> dict:
    u = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    return {"host": u.hostname, "port": u.port, "user": u.username, "password": u.password,
            "database": u.path.lstrip("/")}


@pytest.fixture(scope="module")
def pg_table(pg_url):
    import psycopg

    conn_url = pg_url.replace("postgresql+psycopg://", "postgresql://")
    table = f"ds_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(conn_url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE {table} (id int, "sepal.length" float8, species text)')
        conn.execute(f"INSERT INTO {table} SELECT i, i / 10.0, 's' || i FROM generate_series(1, 50) i")
    yield table
    with psycopg.connect(conn_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {table}")


@pytest.fixture(scope="module")
def my_table(mariadb_url):
    import pymysql

    p = parts(mariadb_url)
    table = f"ds_{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(host=p["host"], port=p["port"], user=p["user"], password=p["password"],
                           database=p["database"], autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int, `sepal.length` double, species varchar(20))")
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s)", [(i, i / 10, f"s{i}") for i in range(1, 51)])
    yield table
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE {table}")
    conn.close()


@pytest.fixture(params=["postgresql", "mysql"])
def db(request, tmp_path):
    """(platform, backend name, connection fields, table) for each real database server."""
    if request.param == "postgresql":
        url, table = request.getfixturevalue("pg_url"), request.getfixturevalue("pg_table")
    else:
        url, table = request.getfixturevalue("mariadb_url"), request.getfixturevalue("my_table")
    platform = make_platform(scratch("db"), settings="connect_timeout_s = 2\nstatement_timeout_s = 1")
    return platform, request.param, parts(url), table


def values(db, **extra):
    platform, backend, conn, table = db
    return {"name": "rows", "category": "numeric", "backend": backend, **conn,
            "query": f"select * from {table} order by id", **extra}


def test_create_preview_and_secret_handling(db):
    platform, backend, conn, table = db
    ds = platform.datasets
    assert "connected to" in ds.test_connection("alice", values(db))
    row = ds.create("alice", values(db))
    info = ds.info(row, "alice")
    assert info["options"]["password"] == "********"
    with platform.store.session() as s:
        stored = s.scalars(select(DatasetRow).where(DatasetRow.id == row.id)).one()
    # Only a Fernet token is stored; this site's key opens it.
    assert "password" not in stored.options and stored.secrets.startswith("gAAAA")
    assert ds.box.open(stored.secrets) == {"password": conn["password"]}
    table_ = ds.table("alice", ref=row.id, rows=5)
    assert table_.columns == ["id", "sepal.length", "species"]
    assert table_.rows[0] == [1, 0.1, "s1"] and len(table_.rows) == 5 and table_.truncated
    assert ds.test_connection("alice", ref=row.id).startswith("connected")
    # Modify without the password keeps the stored one.
    ds.modify("alice", row.id, {"query": f"select id from {table} where id > 45", "password": ""})
    assert ds.table("alice", ref=row.id).rows == [[46], [47], [48], [49], [50]]
    # Sharing a connection-based dataset shares the connection with named users.
    with pytest.raises(ValidationError) as err:
        ds.share("alice", row.id, {"share_name": "rows-shared"})
    assert err.value.field == "share_users"
    shared = ds.share("alice", row.id, {"share_name": "rows-shared", "share_users": ["carol"]})
    assert ds.table("carol", ref=shared.id).rows[0] == [46]
    assert ds.info(shared, "carol")["options"]["password"] == "********"
    # F181: a new shared database dataset names its users directly.
    direct = ds.create("alice", values(db, name="direct", share_users=["bob"]), area="shared")
    assert ds.allowed("bob", direct) == {"preview", "use"} and ds.allowed("carol", direct) == set()


@pytest.mark.parametrize("query,field,message", [
    ("select 1;", "query", "must not end with a semicolon"),
    ("delete from t", "query", "only SELECT queries"),
    ("  -- comment\n update t set a = 1", "query", "only SELECT"),
    ("", "query", "is required"),
])
def test_queries_refused_before_they_run(db, query, field, message):
    platform = db[0]
    with pytest.raises(ValidationError) as err:
        platform.datasets.create("alice", values(db, query=query))
    assert err.value.field == field and message in err.value.message
    assert platform.datasets.list("alice") == []


def test_read_only_and_statement_timeout(db):
    platform, backend, conn, table = db
    ds = platform.datasets
    if backend == "postgresql":
        writer = f"with gone as (delete from {table} returning *) select * from gone"
        slow = "select pg_sleep(5)"
    else:
        writer = f"select * from {table} for update"  # locks need a writable transaction
        slow = "select sleep(5)"
    with pytest.raises(ValidationError) as err:
        ds.table("alice", values(db, query=writer))
    assert err.value.field == "query"
    assert ds.table("alice", values(db, query=f"select count(*) from {table}")).rows == [[50]]
    with pytest.raises(ValidationError, match="longer than 1 s"):
        ds.table("alice", values(db, query=slow))
    with pytest.raises(ValidationError) as err:
        ds.table("alice", values(db, query="select * from no_such_table"))
    assert err.value.field == "query" and "no_such_table" in err.value.message


def test_connection_failures_in_words_within_bounded_time(db):
    platform = db[0]
    ds = platform.datasets
    with pytest.raises(ValidationError) as err:
        ds.test_connection("alice", values(db, password="wrong-password"))
    assert err.value.field == "password" and "refused the connection" in err.value.message
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(ValidationError) as err:
        ds.test_connection("alice", values(db, port=closed))
    assert err.value.field == "host" and "refused" in err.value.message.lower()
    # A server that accepts TCP and never answers: the connect timeout (2 s here) ends it.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    accepted = []
    stop = threading.Event()

    def hold():
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    try:
        with pytest.raises(ValidationError) as err:
            ds.test_connection("alice", values(db, port=silent.getsockname()[1]))
        assert err.value.field == "host" and "time" in err.value.message.lower()
    finally:
        stop.set()
        t.join()
        for c in accepted:
            c.close()
        silent.close()


def test_store_on_postgresql_migrates_and_keeps_datasets(fresh_pg_url, pg_url, pg_table):
    """The datasets revision applies beside the other branches' revisions on a fresh database."""
    platform = make_platform(scratch("pgstore"), db_url=fresh_pg_url)
    assert "datasets" in platform.store.tables()
    p = parts(pg_url)
    row = platform.datasets.create("alice", {"name": "pg", "category": "numeric", "backend": "postgresql", **p,
                                             "query": f"select * from {pg_table}"})
    assert platform.datasets.get("alice", "pg").id == row.id
    with pytest.raises(ValidationError, match="already exists"):
        platform.datasets.create("alice", {"name": "pg", "category": "numeric", "backend": "postgresql", **p,
                                           "query": f"select * from {pg_table}"})
