"""A scheduler that lost its state hands out old job ids again (Slurm after a reinstall):
`jjobs 29`, `jkill 29` and `hpcai show slurm:29` must mean the newest job with that id."""

from pathlib import Path

from core.config import load_config
from core.platform import Platform
from core.store import JobRow


def test_newest_job_wins_for_a_reused_scheduler_id(tmp_path: Path) -> None:
    p = Platform(load_config({"HPCAI_DATA_DIR": str(tmp_path)}))
    for state in ("succeeded", "running"):
        with p.store.session() as s:
            s.add(JobRow(uuid=f"u-{state}", user="root", name=state, mode="standalone", runtime="host",
                         scheduler="slurm", scheduler_job_id="29", state=state, job_dir=str(tmp_path),
                         request={}, plan={}, script=""))
    assert p.jobs.get_by_scheduler_id("29", "root", "slurm").state == "running"
    assert p.jobs.get("slurm:29", "root").state == "running"
