"""Issue 13, item 7: the portal reads data on a user's behalf without being turned against the
site: connection tests name only hosts (and, by site choice, only its data servers), a
non-WebHDFS answer is the user's error, and a stored path swapped for a link is refused."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from core.errors import HpcaiError, ValidationError
from tests.datasets.conftest import home, make_platform, scratch, write

IRIS = "a,b\n1,2\n"


def pg(host: str, **extra: object) -> dict[str, object]:
    return {"name": "db", "category": "numeric", "backend": "postgresql", "host": host, "port": 5432,
            "user": "u", "password": "p", "database": "d", "query": "select 1", **extra}


@pytest.mark.parametrize("host", ["http://10.0.0.1/admin", "10.0.0.1:22", "db/../x", "user@db", "a b", ""])
def test_a_connection_test_takes_a_bare_host_only(platform, host: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as err:
        platform.datasets.test_connection("alice", pg(host))
    assert err.value.field == "host"


def test_the_sites_allow_list_limits_the_hosts() -> None:
    p = make_platform(scratch("ds-hosts"), settings='allowed_hosts = ["*.data.example.org", "10.8.0.0/16"]\n'
                                                   'connect_timeout_s = 1')
    with pytest.raises(ValidationError, match="not one of the site's data servers") as err:
        p.datasets.test_connection("alice", pg("127.0.0.1"))  # the portal's own host: not a data server
    assert err.value.field == "host" and "allowed_hosts" in err.value.fix
    for allowed in ("10.8.3.4", "pg1.data.example.org"):  # allowed: then the (failing) connection itself
        with pytest.raises(ValidationError) as err:
            p.datasets.test_connection("alice", pg(allowed))
        assert "not one of" not in err.value.message


def test_json_that_is_not_webhdfs_is_a_clear_error(platform) -> None:  # type: ignore[no-untyped-def]
    class NotANameNode(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = json.dumps({"status": "ok"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), NotANameNode)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        values = {"name": "h", "category": "text", "backend": "hdfs", "host": "127.0.0.1", "port": 8020,
                  "web_port": server.server_address[1], "user": "alice", "path": "/data"}
        with pytest.raises(ValidationError, match="not WebHDFS") as err:
            platform.datasets.test_connection("alice", values)
        assert err.value.field == "web_port"
    finally:
        server.shutdown()


def test_a_stored_directory_swapped_for_a_link_is_refused(platform) -> None:  # type: ignore[no-untyped-def]
    d = home(platform, "alice") / "iris"
    write(d / "a.csv", IRIS)
    row = platform.datasets.create("alice", {"name": "iris", "category": "numeric", "backend": "files",
                                             "directory": str(d)})
    assert platform.datasets.files("alice", ref=row.id)[0][0].path == "a.csv"
    other = home(platform, "bob") / "private"  # someone else's data, which alice may not name
    write(other / "secret.csv", "s,t\nbob,secret\n")
    shutil.rmtree(d)
    d.symlink_to(other, target_is_directory=True)
    for read in (lambda: platform.datasets.files("alice", ref=row.id),
                 lambda: platform.datasets.table("alice", ref=row.id, rows=5),
                 lambda: platform.datasets.read_file("alice", row.id, "secret.csv")):
        with pytest.raises(ValidationError, match="changed since the dataset was saved"):
            read()


def test_connection_tests_are_budgeted_per_user() -> None:
    p = make_platform(scratch("ds-budget"), settings="connection_tests_per_minute = 3\nconnect_timeout_s = 1")
    for _ in range(3):  # refused by the database (nothing listens there), but tried
        with pytest.raises(ValidationError):
            p.datasets.test_connection("alice", pg("127.0.0.1", port=9))
    with pytest.raises(HpcaiError, match="at most 3 connection tests a minute") as err:
        p.datasets.test_connection("alice", pg("127.0.0.1", port=9))
    assert err.value.status == 429
    with pytest.raises(ValidationError):  # another user has their own budget
        p.datasets.test_connection("bob", pg("127.0.0.1", port=9))
