"""Turn the product's #BSUB batch script (and its machine file) into a JobRequest.

The script itself runs verbatim as the job body; its `jairun djm command ...` line then finds
the plan that this request produced (HPCAI_JOB_DIR/plan.json). Everything is validated here,
before the job exists, so a mistake costs the user nothing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Mapping

from core.batchscript import BatchScript, parse_batch_script, parse_machine_file
from core.errors import ValidationError
from core.plan import ResourceRequest, RoleGroup
from core.types import JobRequest

# The product's --job-type values and the mode plugins that run them.
JOB_TYPE_MODES = {"standalone": "standalone", "ps": "ps", "horovod": "horovod", "ddp": "ddp",
                  "mpi": "mpi", "deepspeed": "deepspeed"}


def request_from_script(text: str, user: str, submit_dir: Path, source: str,
                        env: Mapping[str, str]) -> JobRequest:
    script: BatchScript = parse_batch_script(text, source=source, env=env)
    d, call = script.directives, script.jairun
    cwd = Path(d.cwd).expanduser() if d.cwd else submit_dir
    if not cwd.is_absolute():
        cwd = submit_dir / cwd
    groups: list[RoleGroup] | None = None
    if d.machine_file:
        mf = Path(d.machine_file).expanduser()
        mf = mf if mf.is_absolute() else submit_dir / mf
        if not mf.is_file():
            raise ValidationError(f"machine file {mf} does not exist", field="-mf",
                                  fix="give the path of the .mf file, relative to where you run jsub")
        groups = parse_machine_file(mf.read_text(), source=str(mf))
        if d.slots is not None:
            total = sum(g.count * g.request.cpus for g in groups)
            if total != d.slots:
                raise ValidationError(f"-n {d.slots} disagrees with the machine file ({total} slots)",
                                      field="-n", fix="drop -n or make it match the machine file")
    mode = "standalone"
    if call is not None:
        mode = JOB_TYPE_MODES.get(call.job_type, call.job_type)
    if groups is None:
        slots = d.slots or 1
        one = ResourceRequest(cpus=1, mem_mb=d.mem_limit_mb)
        groups = [RoleGroup(1, replace(one, cpus=slots))] if mode == "standalone" else [RoleGroup(slots, one)]
    elif d.mem_limit_mb:
        groups = [replace(g, request=replace(g.request, mem_mb=g.request.mem_mb or d.mem_limit_mb))
                  for g in groups]
    workdir = Path(call.workdir).expanduser() if call and call.workdir else cwd
    return JobRequest(
        user=user, command=call.cmd if call else "", workdir=str(workdir), image=call.image if call else None,
        mode=mode, name=d.name or (Path(source).stem if source != "<stdin>" else "NONAME"),
        queue=d.queue, app_profile=d.app, time_limit_min=d.time_limit_min,
        mem_limit_mb=d.mem_limit_mb, extra_ports=d.ports, groups=groups, batch_script=script.text,
        cwd=str(cwd), stdout=d.stdout, stderr=d.stderr, source="jsub")
