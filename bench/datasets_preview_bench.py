"""Benchmark (not a test): dataset previews stay cheap however big the dataset is.

(a) a 1 GB CSV (generated here, deleted afterwards): hpcai's preview of the first rows
    (DatasetService.table -> files backend, streamed with the csv module) against pandas
    reading the first rows directly (`pd.read_csv(path, nrows=N)`);
(b) a 10-million-row PostgreSQL table (generate_series, dropped afterwards): hpcai's preview
    (postgresql backend, read-only session, server-side cursor) against pandas
    `read_sql(query, chunksize=N)` taking the first chunk (psycopg's default client cursor
    pulls the whole result first) and against pandas with the limit written into the SQL.

Each measurement runs in a fresh Python process that first previews a tiny dataset (imports
and plugins loaded: what a running portal already has; both sides then open a fresh database
session per preview), then times the preview of
the big one; it reports that time to the first rows and the peak RSS growth it caused
(the peak RSS, VmHWM reset through /proc/self/clear_refs, minus the RSS just before it).
Ratios are hpcai / baseline, measured in this one run.

    HPCAI_TEST_PG_URL=postgresql+psycopg://... .venv/bin/python bench/datasets_preview_bench.py
    (without HPCAI_TEST_PG_URL it starts tests/services/postgres.sh; --size-mb, --rows, --preview)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

# Child programs: each prints one JSON line {"seconds", "peak_growth_mb", "rows"}.
PRELUDE = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
def status_mb(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":")) / 1024
def rss_mb():
    # Reset the peak (VmHWM) so that what the imports once used does not count as the preview's.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return status_mb("VmRSS")
def done(seconds, before, rows):
    peak = status_mb("VmHWM") - before
    print(json.dumps({{"seconds": seconds, "peak_growth_mb": peak, "rows": rows}}))
"""
HPCAI_FILE = PRELUDE + r"""
from core.config import load_config
from core.platform import Platform
p = Platform(load_config({{"HPCAI_CONFIG": {config!r}, "HPCAI_DATA_DIR": {data!r}}}))
ds = p.datasets
ds.table("bench", ref="small-csv", rows={n})  # warm: a portal process has its imports and plugins loaded
before = rss_mb()
t = time.perf_counter()
table = ds.table("bench", ref="big-csv", rows={n})
done(time.perf_counter() - t, before, len(table.rows))
"""
PANDAS_FILE = PRELUDE + r"""
import pandas as pd
pd.read_csv({small!r}, nrows={n})  # warm, as above
before = rss_mb()
t = time.perf_counter()
df = pd.read_csv({path!r}, nrows={n})
done(time.perf_counter() - t, before, len(df))
"""
HPCAI_DB = HPCAI_FILE.replace('"big-csv"', '"big-table"').replace('"small-csv"', '"small-table"')
PANDAS_DB = PRELUDE + r"""
import pandas as pd
import sqlalchemy as sa
engine = sa.create_engine({url!r}, poolclass=sa.pool.NullPool)  # a fresh session, as hpcai opens per preview
def first(query):
    with engine.connect() as conn:
        return next(iter(pd.read_sql(query, conn, chunksize={n})))
first({small_query!r})  # warm, as above
before = rss_mb()
t = time.perf_counter()
df = first({query!r})
done(time.perf_counter() - t, before, len(df))
"""


def child(code: str) -> dict:
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=900, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(code: str, repeat: int) -> dict:
    runs = [child(code) for _ in range(repeat)]
    return min(runs, key=lambda r: r["seconds"]) | {"peak_growth_mb": max(r["peak_growth_mb"] for r in runs)}


def write_csv(path: Path, size_mb: int) -> int:
    line_block = "".join(f"{i},{i * 0.5:.3f},{(i * 7) % 1000 / 10:.1f},setosa,{i % 3}\n" for i in range(10000))
    rows = 0
    with open(path, "w") as f:
        f.write("id,sepal.length,sepal.width,species,target\n")
        while f.tell() < size_mb * 2**20:
            f.write(line_block)
            rows += 10000
    return rows


def report(title: str, ours: dict, base: dict, base_name: str) -> None:
    t_ratio = ours["seconds"] / base["seconds"] if base["seconds"] else float("inf")
    m_ratio = (max(ours["peak_growth_mb"], 0.1)) / max(base["peak_growth_mb"], 0.1)
    print(f"{title:34s} hpcai {ours['seconds'] * 1000:9.1f} ms {ours['peak_growth_mb']:8.1f} MB | "
          f"{base_name:28s} {base['seconds'] * 1000:9.1f} ms {base['peak_growth_mb']:8.1f} MB | "
          f"time x{t_ratio:.3g}  memory x{m_ratio:.3g}")


def pg_url() -> tuple[str, bool]:
    if os.environ.get("HPCAI_TEST_PG_URL"):
        return os.environ["HPCAI_TEST_PG_URL"], False
    script = ROOT / "tests" / "services" / "postgres.sh"
    started = subprocess.run(["bash", str(script), "status"], capture_output=True, timeout=60).returncode != 0
    subprocess.run(["bash", str(script), "start"], check=True, timeout=120)
    url = subprocess.run(["bash", str(script), "url"], capture_output=True, text=True, check=True, timeout=30)
    return url.stdout.strip(), started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--preview", type=int, default=100, help="rows a preview shows")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from core.config import load_config
    from core.platform import Platform

    work = Path(tempfile.mkdtemp(prefix="hpcai-ds-bench-"))
    url, stop_pg = pg_url()
    table = f"bench_{uuid.uuid4().hex[:8]}"
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        t = time.perf_counter()
        (work / "data").mkdir()
        lines = write_csv(work / "data" / "big.csv", args.size_mb)
        size = (work / "data" / "big.csv").stat().st_size
        print(f"generated {size / 2**20:.0f} MB CSV ({lines:,} rows) in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE UNLOGGED TABLE {table} AS SELECT i AS id, i * 0.5 AS "sepal.length", '
                         f"(i * 7) % 1000 / 10.0 AS sepal_width, 'setosa'::text AS species "
                         f"FROM generate_series(1, {args.rows}) i")
        print(f"generated {args.rows:,}-row table in {time.perf_counter() - t:.1f} s")

        data = work / "hpcai"
        config = work / "hpcai.toml"
        config.write_text(f'[core]\ndata_dir = "{data}"\n\n[portal]\nroots = ["{work / "data"}"]\n')
        p = Platform(load_config({"HPCAI_CONFIG": str(config), "HPCAI_DATA_DIR": str(data)}))
        p.accounts.create("bench", "benchpass1")
        p.datasets.create("bench", {"name": "big-csv", "category": "numeric", "directory": str(work / "data")})
        (work / "data" / "small").mkdir()
        (work / "data" / "small" / "small.csv").write_text("id,sepal.length\n1,0.5\n")
        p.datasets.create("bench", {"name": "small-csv", "category": "numeric",
                                    "directory": str(work / "data" / "small")})
        from urllib.parse import urlsplit

        u = urlsplit(plain)
        query = f"select * from {table}"
        p.datasets.create("bench", {"name": "big-table", "category": "numeric", "backend": "postgresql",
                                    "host": u.hostname, "port": u.port, "user": u.username, "password": u.password,
                                    "database": u.path.lstrip("/"), "query": query})
        small_query = f"select * from {table} limit 3"
        p.datasets.create("bench", {"name": "small-table", "category": "numeric", "backend": "postgresql",
                                    "host": u.hostname, "port": u.port, "user": u.username, "password": u.password,
                                    "database": u.path.lstrip("/"), "query": small_query})
        fmt = {"root": str(ROOT), "config": str(config), "data": str(data), "n": args.preview,
               "path": str(work / "data" / "big.csv"), "small": str(work / "data" / "small" / "small.csv"),
               "url": url, "query": query, "small_query": small_query}
        print(f"\npreview of the first {args.preview} rows, best of {args.repeat} fresh processes:")
        report(f"{size / 2**20:.0f} MB CSV", best(HPCAI_FILE.format(**fmt), args.repeat),
               best(PANDAS_FILE.format(**fmt), args.repeat), "pandas read_csv(nrows)")
        ours = best(HPCAI_DB.format(**fmt), args.repeat)
        report(f"{args.rows:,}-row table", ours, best(PANDAS_DB.format(**fmt), 1), "pandas read_sql(chunksize)")
        limited = dict(fmt, query=f"{query} limit {args.preview}")
        report(f"{args.rows:,}-row table", ours, best(PANDAS_DB.format(**limited), args.repeat),
               "pandas read_sql(... limit N)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        if stop_pg:
            subprocess.run(["bash", str(ROOT / "tests" / "services" / "postgres.sh"), "stop"], timeout=120)


if __name__ == "__main__":
    main()
