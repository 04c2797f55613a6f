"""What isolation costs (issue 13), measured in one run and printed as ratios (not a test):

(a) a `local` job running `true`, submit -> succeeded, of a portal account that runs as its own
    Unix user (resolved, dropped to its uid/gid/groups) against the same job of the CLI's
    caller (root runs as itself: no switch);
(b) resolving an account's Unix identity (NSS lookups) against one bare pwd.getpwnam;
(c) a portal page request with a revocable session (one store lookup of its id) against the
    same request with an API token (one lookup of the token's hash).

    .venv/bin/python bench/bench_isolation.py [--repeat 5]     (as root)
"""

from __future__ import annotations

import argparse
import os
import pwd
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import load_config  # noqa: E402
from core.identity import IdentityMap  # noqa: E402
from core.platform import Platform  # noqa: E402
from core.types import JobRequest, JobState  # noqa: E402


def job_seconds(p: Platform, user: str, source: str, workdir: Path) -> float:
    t = time.perf_counter()
    row = p.jobs.submit(JobRequest(user=user, command="true", workdir=str(workdir), framework="pytorch",
                                   options={"resource_spec": "cpu-1"}, source=source))
    while True:
        p.jobs.refresh(["local"])
        state = JobState(p.jobs.get(row.id, "root").state)
        if state.terminal:
            assert state == JobState.SUCCEEDED, state
            return time.perf_counter() - t
        time.sleep(0.02)


def per_call(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if os.getuid() != 0:
        print("bench_isolation: run as root (the portal's user on a multi-user site)")
        return 2
    data = ROOT / "var" / "bench" / f"iso-{uuid.uuid4().hex[:6]}"
    p = Platform(load_config({"HPCAI_DATA_DIR": str(data), "HPCAI_IDENTITY_AUTO_CREATE": "1"}))
    p.accounts.seed_admin("benchpass1")
    p.accounts.create("benchuser", "benchpass1")
    work = p.workspace.home("benchuser")
    as_user, as_root = [], []
    for _ in range(args.repeat):  # interleaved: the machine's drift hits both alike
        as_user.append(job_seconds(p, "benchuser", "portal", work))
        as_root.append(job_seconds(p, "root", "cli", work))
    u, r = statistics.median(as_user), statistics.median(as_root)
    print(f"(a) local job 'true', submit->succeeded: as its Unix user {u:.3f} s, as the caller {r:.3f} s, "
          f"ratio {u / r:.2f}")

    ids = IdentityMap(p.config.identity)
    ids.for_job("benchuser", "portal")
    name = ids.auto_name("benchuser")
    resolve = per_call(lambda: ids.for_job("benchuser", "portal"), 200)
    bare = per_call(lambda: pwd.getpwnam(name), 200)
    print(f"(b) identity resolution {resolve * 1e6:.0f} us, bare getpwnam {bare * 1e6:.0f} us, "
          f"ratio {resolve / bare:.1f}")

    from portal import create_app

    app = create_app(p, settings={"TESTING": True})
    token = p.accounts.create_token("benchuser")
    cookie = app.test_client()
    cookie.get("/login")
    with cookie.session_transaction() as s:
        csrf = s["csrf"]
    cookie.post("/login", data={"username": "benchuser", "password": "benchpass1", "csrf_token": csrf})
    bearer = app.test_client()
    n = 100
    with_session = per_call(lambda: cookie.get("/api/v1/jobs?limit=1"), n)
    with_token = per_call(lambda: bearer.get("/api/v1/jobs?limit=1", headers={"Authorization": f"Bearer {token}"}), n)
    print(f"(c) GET /api/v1/jobs: session {with_session * 1e3:.2f} ms, token {with_token * 1e3:.2f} ms, "
          f"ratio {with_session / with_token:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
