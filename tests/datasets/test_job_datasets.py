"""A job names datasets: it reads their paths and connections from the environment, and a
database dataset's rows as CSV in its job directory (real local scheduler, real PostgreSQL)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest

from core.errors import NotFound, PermissionDenied
from tests.datasets.conftest import home, make_platform, scratch, write
from tests.datasets.test_database_backends import parts

pytestmark = pytest.mark.integration

READER = r'''
import csv, json, os
names = os.environ["HPCAI_DATASETS"].split(",")
out = {"names": names, "path": os.environ["HPCAI_DATASET_IRIS_PATH"],
       "pg_host": os.environ["HPCAI_DATASET_ROWS_HOST"], "env_has_password": any("hpcai" == v for k, v in os.environ.items() if "PASSWORD" in k)}
with open(os.environ["HPCAI_DATASET_ROWS_CSV"]) as f:
    out["csv"] = list(csv.reader(f))
with open(os.environ["HPCAI_DATASET_ROWS_SECRETS_FILE"]) as f:
    out["secret_keys"] = sorted(json.load(f))
print("RESULT " + json.dumps(out))
'''


def wait_done(platform, job_id, user, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        platform.jobs.refresh()
        row = platform.jobs.get(job_id, user)
        if row.state in ("succeeded", "failed", "cancelled"):
            return row
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not end")


def test_job_reads_file_and_database_datasets(pg_url):
    import psycopg

    platform = make_platform(scratch("jobs"))
    table = f"jobrows_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} AS SELECT i AS id, i * 2 AS twice FROM generate_series(1, 3) i")
    try:
        write(home(platform, "alice") / "iris" / "a.csv", "x,y\n1,2\n")
        platform.datasets.create("alice", {"name": "iris", "category": "numeric", "directory":
                                           str(home(platform, "alice") / "iris")})
        platform.datasets.create("alice", {"name": "rows", "category": "numeric", "backend": "postgresql",
                                           **parts(pg_url), "query": f"select * from {table} order by id"})
        work = home(platform, "alice") / "code"
        write(work / "reader.py", READER)
        values = {"framework": "pytorch", "mode": "standalone", "resource_spec": "cpu-1", "workdir": str(work),
                  "command": f"{os.environ.get('PYTHON', 'python3')} reader.py", "datasets": ["iris", "rows"],
                  "dataset_csv": True}
        req = platform.jobs.request_from_values(values, "alice", "api")
        # --dry-run already resolves the datasets (and refuses unknown ones) without side effects.
        prep = platform.jobs.prepare(req)
        assert prep.plan.env["HPCAI_DATASETS"] == "iris,rows"
        assert not any("hpcai" == v for k, v in prep.plan.env.items() if "PASSWORD" in k)
        row = platform.jobs.submit(platform.jobs.request_from_values(values, "alice", "api"))
        done = wait_done(platform, row.id, "alice")
        log = Path(done.stdout_path).read_text()
        assert done.state == "succeeded", log
        result = json.loads(log.split("RESULT ", 1)[1].splitlines()[0])
        assert result["names"] == ["iris", "rows"] and result["path"].endswith("/iris")
        assert result["csv"] == [["id", "twice"], ["1", "2"], ["2", "4"], ["3", "6"]]
        assert result["secret_keys"] == ["password"] and not result["env_has_password"]
        secrets = next((Path(done.job_dir) / "datasets").glob("*.secrets.json"))
        assert oct(secrets.stat().st_mode & 0o777) == "0o600"
        # Someone who may not use a dataset cannot name it; nothing is submitted.
        before = platform.jobs.list("carol")[1]
        with pytest.raises(NotFound):
            platform.jobs.submit(platform.jobs.request_from_values({**values, "datasets": ["rows"]}, "carol", "api"))
        assert platform.jobs.list("carol")[1] == before
        shared = platform.datasets.share("alice", "rows", {"share_name": "rows-team", "share_users": ["bob"]})
        platform.datasets.job_env("bob", [shared.id], "/tmp/x", csv=False)
        with pytest.raises(PermissionDenied):
            platform.datasets.job_env("admin", [shared.id], "/tmp/x", csv=False)
    finally:
        with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f"DROP TABLE {table}")
