"""RL training runs as scheduler jobs: a validated training spec -> one job through the platform's
job path (so it runs as its user, on the site's scheduler, with the resource spec asked), with
the ports its own Ray cluster needs allocated to it (core.rl.trainspec.ports_needed; two RL jobs
on one node never share one), running `python -m core.rl.jobside train`.

The run directory `<workspace>/rl-runs/<uuid>/` holds spec.json and, written by the job,
metrics.jsonl, tensorboard/, checkpoint/ and result.json. Narrow dependencies: the job service
(request_from_values / submit / get / run_as) and the user's workspace directory.
"""

from __future__ import annotations

import json
import shutil
import uuid as uuidlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Protocol

from core.errors import NotFound, ValidationError
from core.rl.trainspec import ports_needed, validate
from core.users import chown_tree

RUNS_DIR = "rl-runs"
DEFAULT_IMAGE = "pytorch"  # hpcai's own environment, where ray[rllib] is installed by setup.sh


class JobPort(Protocol):
    def run_as(self, user: str, source: str) -> Any: ...
    def request_from_values(self, values: dict[str, Any], user: str, source: str) -> Any: ...
    def submit(self, req: Any) -> Any: ...
    def get(self, ref: Any, user: str) -> Any: ...


@dataclass(frozen=True)
class TrainSettings:
    resource_spec: str = "cpu-1"
    scheduler: str | None = None
    queue: str | None = None
    image: str = DEFAULT_IMAGE
    name: str | None = None  # the job's name (default rl-<algorithm>-<env>)


class RLRuns:
    def __init__(self, jobs: JobPort, home: Callable[[str], Path]):
        self.jobs = jobs
        self.home = home

    def submit(self, user: str, spec: Any, settings: TrainSettings | None = None) -> dict[str, Any]:
        """Validate (every field at fault named), write the run directory, submit one job."""
        settings = settings or TrainSettings()
        clean = validate(spec)
        owner = self.jobs.run_as(user, "rl")  # refused here, before anything is written
        run_uuid = str(uuidlib.uuid4())
        run_dir = self.home(user) / RUNS_DIR / run_uuid
        run_dir.mkdir(parents=True)
        (run_dir / "spec.json").write_text(json.dumps(clean, indent=1))
        chown_tree(run_dir, owner, include_parent=True)  # the job writes its results there, as its user
        env = clean["env"]
        label = env.get("id") or env.get("class") or env.get("kind")
        values = {"framework": "pytorch", "mode": "standalone", "image": settings.image, "workdir": str(run_dir),
                  "command": f"python -m core.rl.jobside train {run_dir / 'spec.json'} {run_dir}",
                  "name": (settings.name or f"rl-{clean['algorithm']}-{label}")[:120],
                  "resource_spec": settings.resource_spec, "scheduler": settings.scheduler, "queue": settings.queue}
        ports = ports_needed(clean)
        try:
            req = self.jobs.request_from_values({k: v for k, v in values.items() if v is not None}, user, source="rl")
            job = self.jobs.submit(replace(req, extra_ports=ports))
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        return {"uuid": run_uuid, "run_dir": str(run_dir), "job_id": job.id, "job_uuid": job.uuid,
                "ports": ports}

    def result(self, user: str, run_uuid: str) -> dict[str, Any]:
        """What a run wrote: result.json (when it finished) and its per-iteration metrics."""
        if not run_uuid or "/" in run_uuid or run_uuid.startswith("."):
            raise ValidationError("is not a run id", field="run", fix="see the id `hpcai rl train` printed")
        run_dir = self.home(user) / RUNS_DIR / run_uuid
        if not (run_dir / "spec.json").is_file():
            raise NotFound(f"no RL run {run_uuid}", field="run")
        metrics = []
        path = run_dir / "metrics.jsonl"
        if path.is_file():
            metrics = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        result = run_dir / "result.json"
        return {"uuid": run_uuid, "run_dir": str(run_dir),
                "result": json.loads(result.read_text()) if result.is_file() else None, "iterations": metrics}
