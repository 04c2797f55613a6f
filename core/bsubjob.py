"""Turn the product's #BSUB batch script (and its machine file) into a JobRequest.

The script itself runs verbatim as the job body; its `jairun djm command ...` line then finds
the plan that this request produced (HPCAI_JOB_DIR/plan.json). Everything is validated here,
before the job exists, so a mistake costs the user nothing.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Mapping

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


# --- the request on the wire: jsub in an environment parses here (client side) and sends this --

#: what a #BSUB request carries, and the JSON types each field may have (None: absent)
WIRE_FIELDS: dict[str, tuple[type, ...]] = {
    "command": (str,), "workdir": (str,), "image": (str,), "mode": (str,), "name": (str,), "queue": (str,),
    "app_profile": (str,), "time_limit_min": (int,), "mem_limit_mb": (int,), "extra_ports": (int,),
    "groups": (list,), "batch_script": (str,), "cwd": (str,), "stdout": (str,), "stderr": (str,),
}


def request_to_wire(req: JobRequest) -> dict[str, Any]:
    """The fields of a #BSUB request as JSON (POST /api/v1/jobs/batch); who submits is the token's."""
    data = {k: getattr(req, k) for k in WIRE_FIELDS}
    data["groups"] = [asdict(g) for g in req.groups or []]
    return {k: v for k, v in data.items() if v is not None}


def request_from_wire(data: Mapping[str, Any], user: str) -> JobRequest:
    """The inverse, checked: every field's type, every group's shape; the rest is prepare()'s."""
    unknown = sorted(set(data) - set(WIRE_FIELDS))
    if unknown:
        raise ValidationError(f"'{unknown[0]}' is not a field of a batch-script job", field=unknown[0],
                              fix="send only " + ", ".join(WIRE_FIELDS))
    for k, v in data.items():
        if v is not None and (not isinstance(v, WIRE_FIELDS[k]) or isinstance(v, bool)):
            raise ValidationError(f"has the wrong type ({type(v).__name__})", field=k)
    if not isinstance(data.get("batch_script"), str) or not data["batch_script"].strip():
        raise ValidationError("is required", field="batch_script", fix="send the #BSUB script's text")
    groups = []
    for g in data.get("groups") or []:
        try:
            if not isinstance(g, dict) or not isinstance(g.get("request"), dict):
                raise TypeError("a group is {count, request, tag}")
            req = ResourceRequest(**g["request"])
            group = RoleGroup(**{**g, "request": req})
        except TypeError as exc:
            raise ValidationError(f"bad group: {exc}", field="groups") from None
        ints = {"count": group.count, "cpus": req.cpus, "gpus": req.gpus, "mem_mb": req.mem_mb or 1}
        texts = {"tag": group.tag, "gpu_type": req.gpu_type, "gpu_mode": req.gpu_mode, "host": req.host,
                 "spec": req.spec}
        for key, value in ints.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "gpus" else 1):
                raise ValidationError(f"a group's {key} must be a whole number of at least "
                                      f"{0 if key == 'gpus' else 1}", field="groups")
        for key, value in texts.items():
            if value is not None and not isinstance(value, str):
                raise ValidationError(f"a group's {key} must be a string", field="groups")
        groups.append(group)
    fields = {k: v for k, v in data.items() if k != "groups" and v is not None}
    # Not "jsub": that source means the Unix user running this process made the request
    # (core.identity.CALLER_SOURCES), and here that process is the portal.
    return JobRequest(user=user, command=fields.pop("command", ""), workdir=fields.pop("workdir", ""),
                      groups=groups or None, source="jsub-api", **fields)
