"""The store on SQLite (embedded default) and on a real PostgreSQL server."""

import threading

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
import sqlalchemy as sa
from sqlalchemy import select

from core.ports import allocate_ports, release_ports
from core.specs import SpecCatalog
from core.store import Base, JobRow, PortAllocation, ResourceSpecRow, Store, open_store
from core.store.db import alembic_config

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("fresh_pg_url")


def test_migrations_upgrade_downgrade_and_match_the_models(url):
    store = Store(url)
    store.migrate()
    assert {"jobs", "resource_specs", "port_allocations"} <= store.tables()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    def schema() -> set[tuple[str, str]]:  # (table, column): a revision may add columns only
        insp = sa.inspect(store.engine)
        return {(t, c["name"]) for t in insp.get_table_names() for c in insp.get_columns(t)}

    before = schema()
    for target in ("-1", "base"):  # one step (the newest revision's tables or columns go), then all the way
        with store.engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, target)
        assert schema() < before
        before = schema()
    assert "jobs" not in store.tables()
    store.migrate()  # and back up again
    assert "jobs" in store.tables()
    store.engine.dispose()


def test_job_rows_round_trip_with_json_and_times(url):
    store = open_store(url)
    with store.session() as s:
        s.add(JobRow(uuid="u1", user="alice", name="n", mode="ddp", runtime="host", scheduler="local",
                     state="queued", job_dir="/x", request={"env": {"A": "1"}}, plan={"roles": []},
                     script="#!/bin/bash\n"))
    with store.session() as s:
        row = s.scalars(select(JobRow).where(JobRow.uuid == "u1")).one()
        assert row.request == {"env": {"A": "1"}} and row.id >= 1 and row.submit_time is not None


def test_port_claims_never_collide_between_concurrent_submitters(url):
    store = open_store(url)
    got: dict[str, list[int]] = {}

    def claim(job: str) -> None:
        got[job] = allocate_ports(store, job, 5, (40000, 40019))

    threads = [threading.Thread(target=claim, args=(f"job{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ports = [p for v in got.values() for p in v]
    assert len(ports) == 20 and len(set(ports)) == 20  # the whole range, no port twice
    with pytest.raises(Exception, match="no free port left in 40000-40019"):
        allocate_ports(store, "job-late", 1, (40000, 40019))
    release_ports(store, "job0")
    assert len(allocate_ports(store, "job-late", 5, (40000, 40019))) == 5
    with store.session() as s:
        assert len(list(s.scalars(select(PortAllocation)))) == 20


def test_specs_sync_from_processes_starting_together(url, tmp_path):
    """Two first submits at once (two `hpcai submit` processes on a fresh site) both copy the
    spec file into the store; the loser of the insert race must read the winner's rows, not fail."""
    f = tmp_path / "specs.toml"
    f.write_text("".join(f'[[spec]]\nname = "cpu-{i}"\nkind = "cpu"\ncpus = {i}\n\n' for i in range(1, 9)))
    open_store(url).engine.dispose()  # migrated once, as the first process would
    for _ in range(3):
        with Store(url).session() as s:
            s.query(ResourceSpecRow).delete()
        start, errors = threading.Barrier(4), []

        def sync() -> None:
            cat = SpecCatalog(Store(url), f)  # its own engine, like another process
            start.wait()
            try:
                cat.sync()
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)
            finally:
                cat.store.engine.dispose()

        threads = [threading.Thread(target=sync) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with Store(url).session() as s:
            assert sorted(r.name for r in s.scalars(select(ResourceSpecRow))) == [f"cpu-{i}" for i in range(1, 9)]


def test_resource_specs_sync_from_etc_and_visibility(url, tmp_path):
    from core.types import ResourceSpec

    f = tmp_path / "specs.toml"
    f.write_text('[[spec]]\nname = "open"\nkind = "cpu"\ncpus = 2\n\n'
                 '[[spec]]\nname = "team"\nkind = "gpu"\ncpus = 4\ngpus = 1\nvisible_groups = ["ml"]\n')
    cat = SpecCatalog(open_store(url), f)
    assert [s.name for s in cat.visible("bob", [])] == ["open"]
    assert [s.name for s in cat.visible("carol", ["ml"])] == ["open", "team"]
    cat.save(ResourceSpec(name="admin-made", kind="cpu", cpus=1, visible_users=["bob"]))
    f.write_text('[[spec]]\nname = "open"\nkind = "cpu"\ncpus = 3\n')  # "team" left the file
    cat.sync()
    specs = {s.name: s for s in cat.all()}
    assert set(specs) == {"open", "admin-made"} and specs["open"].cpus == 3
    assert [s.name for s in cat.visible("bob", [])] == ["admin-made", "open"]


def test_a_whole_job_on_postgresql(cli, fresh_pg_url, project):
    from tests.helpers import TERMINAL, submit, wait_state

    env = {"HPCAI_DB_URL": fresh_pg_url}
    cli.env.update(env)
    jid = submit(cli, "--framework", "pytorch", "--resource-spec", "cpu-1", "--workdir", str(project),
                 "--", "echo", "on postgres")
    assert wait_state(cli, jid, TERMINAL)["state"] == "succeeded"
    store = Store(fresh_pg_url)
    with store.session() as s:
        assert s.scalars(select(JobRow.state)).one() == "succeeded"
    store.engine.dispose()
