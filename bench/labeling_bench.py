"""Benchmark (not a test): labeling at 100 000 files against the same task at 100 files.

(a) creating a task over N files in the background (list the dataset, split into sub-tasks,
    store the items): seconds until it is ready, and per file;
(b) the data-list page (REST, 50 rows, with its total): first page, a deep page (keyset), a
    status filter and a name filter, at 100 000 files vs at 100 files (ratio, same run);
(c) exporting all files (every file labeled through a pre-annotation CSV): CSV, JSON lines and
    Label Studio JSON, seconds and files per second.

    .venv/bin/python bench/labeling_bench.py [--files 100000] [--small 100] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_files(directory: Path, count: int) -> Path:
    labels = directory.parent / f"{directory.name}.csv"
    with open(labels, "w") as out:
        out.write("file,label\n")
        per = max(1, count // 100)
        for n in range(count):
            d = directory / f"f{n // per:03d}"
            d.mkdir(parents=True, exist_ok=True)
            name = f"img{n:06d}.png"
            os.close(os.open(d / name, os.O_CREAT | os.O_WRONLY, 0o644))
            out.write(f"f{n // per:03d}/{name},{'cat' if n % 3 else 'dog'}\n")
    return labels


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(files: int, small: int, repeat: int) -> None:
    from portal import create_app
    from tests.datasets.conftest import home, make_platform, scratch

    p = make_platform(scratch("label-bench"))
    app = create_app(p)
    client = app.test_client()
    headers = {"Authorization": "Bearer " + p.accounts.create_token("alice", "bench")}
    out = home(p, "alice") / "exports"
    out.mkdir()
    results: dict[int, dict[str, float]] = {}
    for count in (small, files):
        data = home(p, "alice") / f"data{count}"
        labels = make_files(data, count)
        p.datasets.create("alice", {"name": f"d{count}", "category": "image", "directory": str(data)})
        t0 = time.perf_counter()
        resp = client.post("/api/v1/labeling/tasks", headers=headers, json={
            "name": f"t{count}", "dataset": f"d{count}", "template": "image-classification",
            "labels": ["cat", "dog"], "mode": "collaborative", "subtask_size": 1000, "annotators": ["alice", "bob"],
            "pre_annotation": str(labels)})
        assert resp.status_code == 202, resp.get_json()
        task = p.labeling.wait(resp.get_json()["id"], timeout=1200)
        created = time.perf_counter() - t0
        assert task.state == "ready" and task.item_count == count, task.message
        base = f"/api/v1/labeling/tasks/{task.id}/items"
        first_id = client.get(base + "?limit=1", headers=headers).get_json()["items"][0]["id"]

        def page(query: str) -> None:
            r = client.get(base + "?limit=50" + query, headers=headers)
            assert r.status_code == 200 and r.get_json()["items"], r.get_json()

        row = {"create_s": created,
               "first_page_ms": 1000 * timed(lambda: page(""), repeat),
               "deep_page_ms": 1000 * timed(lambda: page(f"&after={first_id + count - 60}"), repeat),
               "status_filter_ms": 1000 * timed(lambda: page("&status=labeled"), repeat),
               "name_filter_ms": 1000 * timed(lambda: page("&name=img0000"), repeat)}
        for fmt in ("csv", "jsonl", "labelstudio"):
            t0 = time.perf_counter()
            r = client.post(f"/api/v1/labeling/tasks/{task.id}/export", headers=headers,
                            json={"format": fmt, "directory": str(out)})
            assert r.status_code == 200, r.get_json()
            row[f"export_{fmt}_s"] = time.perf_counter() - t0
        results[count] = row
    print(f"labeling benchmark: {files} files vs {small} files (median of {repeat} for pages)")
    print(f"{'measure':<20}{small:>12}{files:>12}{'ratio':>10}")
    for key in results[files]:
        a, b = results[small][key], results[files][key]
        print(f"{key:<20}{a:>12.3f}{b:>12.3f}{b / a:>10.1f}")
    print(f"creation: {files / results[files]['create_s']:.0f} files/s; "
          f"CSV export: {files / results[files]['export_csv_s']:.0f} files/s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    run(args.files, args.small, args.repeat)
