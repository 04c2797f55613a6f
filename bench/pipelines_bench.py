"""Pipeline designer benchmarks (issue 18 §9), ratios against baselines in the same run.

1. Run overhead: the numeric pipeline (CSV -> select -> split -> standardise -> LogisticRegression
   -> evaluation) against the same steps as a hand-written script, both
   a. run directly by python (the runner's own cost: imports, plan, per-node state files), and
   b. submitted as local-scheduler jobs through the platform (what a user waits for).
2. Designer load: the designer page in headless Chromium with a 200-node pipeline against an
   empty one (time until the canvas is drawn and the first validation answered).

    .venv/bin/python bench/pipelines_bench.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCRIPT = '''import json, sys
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
frame = pd.read_csv(sys.argv[1])
X, y = frame[["f0", "f1", "f2", "f3", "f4"]], frame["label"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=42)
scaler = StandardScaler().fit(X_train)
clf = LogisticRegression(C=0.3).fit(scaler.transform(X_train), y_train)
print(json.dumps({"accuracy": accuracy_score(y_test, clf.predict(scaler.transform(X_test)))}))
'''


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_overhead(work: Path, repeat: int) -> None:
    os.environ["HPCAI_DATA_DIR"] = str(work / "data")
    os.environ.pop("HPCAI_MLFLOW_URI", None)
    from core.pipelines import engine
    from core.platform import Platform
    from core.users import current_user
    from tests.pipelines.test_runs import make_data, numeric_doc

    csv = make_data(work / "three.csv")
    script = work / "hand.py"
    script.write_text(SCRIPT)
    p = Platform()
    doc = numeric_doc(csv)
    pipeline = p.pipelines.validate(doc, for_run=True)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}

    def direct_script() -> None:
        subprocess.run([sys.executable, str(script), str(csv)], check=True, capture_output=True, timeout=300, env=env)

    def direct_runner() -> None:
        run_dir = Path(tempfile.mkdtemp(dir=work)) / "run"
        run_json = engine.write_run_dir(run_dir, engine.compile_plan(pipeline, "bench", "b" * 36), {})
        subprocess.run([sys.executable, "-m", "core.pipelines.runner", str(run_json)], check=True,
                       capture_output=True, timeout=300, cwd=ROOT, env=env)

    def wait(job_id: int) -> None:
        while True:
            p.jobs.refresh()
            row = p.jobs.get(job_id, current_user())
            if row.state in ("succeeded", "failed", "cancelled"):
                assert row.state == "succeeded", row.state
                return
            time.sleep(0.2)

    def job_script() -> None:
        req = p.jobs.request_from_values({"framework": "pytorch", "mode": "standalone", "resource_spec": "cpu-1",
                                          "workdir": str(work), "command": f"python {script} {csv}",
                                          "name": "bench-hand"}, current_user(), source="cli")
        wait(p.jobs.submit(req).id)

    def job_pipeline() -> None:
        wait(p.pipelines.run(current_user(), doc).job_id)

    a, b = timed(direct_script, repeat), timed(direct_runner, repeat)
    c, d = timed(job_script, repeat), timed(job_pipeline, repeat)
    print(f"run, direct:    hand-written {a:.2f} s, pipeline runner {b:.2f} s, ratio {b / a:.2f}")
    print(f"run, local job: hand-written {c:.2f} s, pipeline run    {d:.2f} s, ratio {d / c:.2f}")


def designer_load(work: Path, repeat: int) -> None:
    from werkzeug.serving import make_server

    from core.config import load_config
    from core.platform import Platform
    from portal import create_app

    data = work / "portal"
    data.mkdir()
    p = Platform(load_config({"HPCAI_DATA_DIR": str(data)}))
    p.accounts.create("bench", "benchpass1")
    nodes = [{"id": "seq", "component": "Sequential", "properties": {}, "position": {"x": 20, "y": 20}}]
    edges = []
    for i in range(199):
        nodes.append({"id": f"d{i}", "component": "Dense", "properties": {"units": 8},
                      "position": {"x": 40 + 180 * (i % 10), "y": 120 + 90 * (i // 10)}})
        edges.append({"from": {"node": nodes[-2]["id"], "port": "model"}, "to": {"node": f"d{i}", "port": "input"}})
    big = p.pipelines.create("bench", "big", "bench", doc={"format": 1, "nodes": nodes, "edges": edges})
    empty = p.pipelines.create("bench", "empty", "bench")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, create_app(p), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                     args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1500, "height": 950})
        page.goto(base + "/login")
        page.fill("input[name=username]", "bench")
        page.fill("input[name=password]", "benchpass1")
        page.click("button[type=submit]")
        page.wait_for_selector("#whoami")

        def load(pid: int) -> None:
            page.goto(f"{base}/pipelines/{pid}/design")
            page.wait_for_selector("#pl-designer[data-ready='1']", timeout=120_000)
            page.wait_for_selector("#pl-designer[data-validated]", state="attached", timeout=120_000)

        load(empty.id)  # warm the browser cache
        e, b = timed(lambda: load(empty.id), repeat), timed(lambda: load(big.id), repeat)
        count = page.evaluate("document.querySelectorAll('.drawflow-node').length")
        browser.close()
    server.shutdown()
    print(f"designer load:  empty {e:.2f} s, 200 nodes ({count} drawn) {b:.2f} s, ratio {b / e:.2f}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pl-bench-") as tmp:
        work = Path(tmp)
        designer_load(work, args.repeat)
        run_overhead(work, args.repeat)
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
