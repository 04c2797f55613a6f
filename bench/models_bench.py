"""Model registry benchmark (issue 16 item 7), two measurements in one run:

1. conversion: the same scikit-learn model converted to ONNX (skl2onnx + the onnxruntime check)
   by running the converter script directly in the modelstore image, and as a conversion job
   through the registry (local scheduler, job directory, My jobs); wall time of each and the ratio;
2. listing: one page (50) of My models and one page of a model's versions when the registry
   holds 100 vs 10 000 (rows inserted straight into the store, MLflow not involved); ratio.

    .venv/bin/python bench/models_bench.py [--mlflow URL] [--repeat 3]

Needs the modelstore image (`hpcai images build modelstore`) and an MLflow server: --mlflow, or
HPCAI_MLFLOW_URI, else a managed one is started on the scratch directory. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TRAIN = """
import sys, joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
joblib.dump(LogisticRegression(max_iter=500).fit(X, y), sys.argv[1])
"""


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_conversion(p, user: str, repeat: int) -> None:  # type: ignore[no-untyped-def]
    from core.models.service import ONNX_CHECK
    from core.models.types import ATOL, RTOL

    python = p.models.d.python_of("modelstore")
    src = p.workspace.home(user) / "bench-iris"
    src.mkdir(parents=True, exist_ok=True)
    subprocess.run([python, "-c", TRAIN, str(src / "iris.joblib")], check=True, timeout=300)
    p.models.create(user, {"name": f"bench-iris-{int(time.time())}", "purpose": "machine-learning",
                           "model_dir": str(src)})
    name = p.models.list(user)[0][0].name
    conv = p.models.d.converters()["sklearn"]
    plan = conv.plan({}, src)

    def direct() -> None:
        with tempfile.TemporaryDirectory() as out:
            tools = Path(out) / "tools"
            tools.mkdir()
            (tools / "onnx_check.py").write_bytes(ONNX_CHECK.read_bytes())
            (tools / "convert.py").write_bytes(plan.script.read_bytes())
            subprocess.run([python, str(tools / "convert.py"), *plan.args, "--source", str(src), "--out", out,
                            "--name", "iris", "--rtol", str(RTOL), "--atol", str(ATOL)],
                           check=True, timeout=300, capture_output=True, cwd=tools)

    def as_job() -> None:
        _v, job = p.models.convert(user, name, 1, "sklearn", {})
        while True:
            p.jobs.refresh()
            job = p.jobs.get(job.id, user)
            if job.state in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.2)
        assert job.state == "succeeded", job.state

    d = [timed(direct) for _ in range(repeat)]
    j = [timed(as_job) for _ in range(repeat)]
    print(f"conversion (sklearn iris -> ONNX + onnxruntime check), median of {repeat}:")
    print(f"  converter run directly   {statistics.median(d):7.2f} s")
    print(f"  as a conversion job      {statistics.median(j):7.2f} s   ratio job/direct "
          f"{statistics.median(j) / statistics.median(d):.2f}")


def bench_listing(p, repeat: int) -> None:  # type: ignore[no-untyped-def]
    from core.models.tables import ModelRow, ModelVersionRow

    def fill(owner: str, n: int) -> str:
        with p.store.session() as s:
            models = [ModelRow(owner=owner, name=f"m{i}", area="my", purpose="other", tags=["Other"],
                               model_dir="/nonexistent", is_lora=False, description="", mlflow_name=f"{owner}.m{i}",
                               share_users=[]) for i in range(n)]
            s.add_all(models)
            s.flush()
            big = models[0].id
            s.add_all([ModelVersionRow(model_id=big, number=k + 1, model_dir="/nonexistent", description="",
                                       tags=[], created_by=owner) for k in range(n)])
        return "m0"

    rows = {}
    for n in (100, 10_000):
        owner = f"bench{n}"
        first = fill(owner, n)
        lst = [timed(lambda: p.models.list(owner, page=1, per_page=50)) for _ in range(repeat)]
        ver = [timed(lambda: p.models.versions(owner, first, page=1, per_page=50)) for _ in range(repeat)]
        rows[n] = (statistics.median(lst), statistics.median(ver))
    print(f"listing one page of 50, median of {repeat}:")
    for n, (lst, ver) in rows.items():
        print(f"  {n:6d} models / versions   list {lst * 1000:7.1f} ms   versions {ver * 1000:7.1f} ms")
    print(f"  ratio 10 000 / 100         list {rows[10_000][0] / rows[100][0]:7.2f}      "
          f"versions {rows[10_000][1] / rows[100][1]:7.2f}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlflow", default=os.environ.get("HPCAI_MLFLOW_URI", ""))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="models-bench-", dir=REPO / "var"))
    os.environ["HPCAI_DATA_DIR"] = str(data)
    from core import tracking
    from core.config import load_config
    from core.platform import Platform
    from core.users import current_user

    server = None
    if args.mlflow:
        os.environ["HPCAI_MLFLOW_URI"] = args.mlflow
    else:
        os.environ["HPCAI_MLFLOW_PORT"] = str(__import__("tests.svc.helpers", fromlist=["x"]).free_port())
        server = tracking.start_managed(load_config({}), wait_s=120)
    try:
        p = Platform()
        p.store.migrate()
        bench_listing(p, args.repeat)
        bench_conversion(p, current_user(), args.repeat)
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
