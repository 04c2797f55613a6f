"""The sbatch script of a job: a pure function of the plan, the script context and settings.

Resource mapping (one place for it):
  queue              -> --partition (through [schedulers.slurm] partitions, else as given)
  request.host       -> --nodelist, or --constraint when [schedulers.slurm] node_groups says so
  request.cpus       -> --cpus-per-task
  request.mem_mb     -> --mem (one task) or --mem-per-cpu (several tasks; Slurm's --mem is per node)
  request.gpus/type/gpu_mode (resource spec's GPU mode; see gpu_options):
    exclusive (default) -> --gres=gpu[:type]:N (one task) or --gpus-per-task=[type:]N; Slurm
                           never gives one GPU to two jobs. [schedulers.slurm]
                           exclusive_gpu_nodes = true adds --exclusive (whole nodes: for sites
                           whose cgroups do not fence devices, so no other job can touch them)
    shared              -> --gres=shard:N x shards_per_gpu (Slurm's GPU sharding: other jobs
                           share the GPU); several tasks: all shards on one node (--nodes=1)
    mig                 -> --gres=gpu:<MIG profile>:N / --gpus-per-task=<profile>:N: Slurm
                           lists MIG instances as GPU types named by profile (gpu_type, or
                           [schedulers.slurm] mig_gres_type); without one it is refused
  Slurm sets CUDA_VISIBLE_DEVICES; hooks/jairun cuts each rank's share from it.
  time_limit_min     -> --time
  array_size         -> --array=0-(N-1)
  step_retry_seconds -> HPCAI_STEP_RETRY_SECONDS: how long hooks/jairun retries creating its srun
                        step while slurmctld is unreachable (jairun's default: 120 s)
Roles that differ in resources become the components of a heterogeneous job (`#SBATCH hetjob`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from core.api import ScriptContext
from core.jobfiles import run_body_lines
from core.plan import LaunchPlan, ResourceRequest


@dataclass
class Component:
    """One sbatch component: `tasks` tasks that all need `request`."""

    tasks: int
    request: ResourceRequest
    roles: list[str] = field(default_factory=list)


def components(plan: LaunchPlan) -> list[Component]:
    """Consecutive roles with equal requests share a component; a new request starts one."""
    out: list[Component] = []
    for role in plan.roles:
        if out and out[-1].request == role.request:
            out[-1].tasks += role.replicas
            out[-1].roles.append(role.name)
        else:
            out.append(Component(role.replicas, role.request, [role.name]))
    return out


def partition_for(queue: str | None, gpus: int, settings: dict[str, Any]) -> str | None:
    partitions: dict[str, str] = settings.get("partitions", {})
    if queue:
        return partitions.get(queue, queue)
    if gpus and settings.get("gpu_partition"):
        return str(settings["gpu_partition"])
    return settings.get("default_partition") or None


def node_option(host: str | None, settings: dict[str, Any]) -> str | None:
    """A node group from a spec or machine file: `constraint:X`, `nodelist:X` or a node name."""
    if not host:
        return None
    target = settings.get("node_groups", {}).get(host, host)
    kind, sep, value = target.partition(":")
    if sep and kind == "constraint":
        return f"--constraint={value}"
    if sep and kind == "nodelist":
        return f"--nodelist={value}"
    return f"--nodelist={target}"


def mig_type(request: ResourceRequest, settings: dict[str, Any]) -> str | None:
    """The GRES type a MIG spec asks Slurm for: its gpu_type, else the site's default profile."""
    return request.gpu_type or settings.get("mig_gres_type") or None


def gpu_options(comp: Component, settings: dict[str, Any]) -> list[str]:
    """Slurm's flags for the GPU mode of a component's resource spec (see the module doc)."""
    r = comp.request
    if not r.gpus:
        return []
    mode = r.gpu_mode or "exclusive"
    if mode == "shared":
        shards = r.gpus * int(settings.get("shards_per_gpu", 1))
        return [f"--gres=shard:{shards * comp.tasks}"] + ([] if comp.tasks == 1 else ["--nodes=1"])
    gtype = mig_type(r, settings) if mode == "mig" else r.gpu_type
    typed = f"{gtype}:" if gtype else ""
    opts = [f"--gres=gpu:{typed}{r.gpus}" if comp.tasks == 1 else f"--gpus-per-task={typed}{r.gpus}"]
    if mode == "exclusive" and settings.get("exclusive_gpu_nodes"):
        opts.append("--exclusive")
    return opts


def resource_options(comp: Component, settings: dict[str, Any] | None = None) -> list[str]:
    r = comp.request
    opts = [f"--ntasks={comp.tasks}", f"--cpus-per-task={max(r.cpus, 1)}"]
    if r.mem_mb:
        if comp.tasks == 1:
            opts.append(f"--mem={r.mem_mb}M")
        else:
            opts.append(f"--mem-per-cpu={-(-r.mem_mb // max(r.cpus, 1))}M")
    return opts + gpu_options(comp, settings or {})


def slurm_path(path: str) -> str:
    """Our output patterns use LSF's %J; Slurm's is %j (and %A_%a for array tasks)."""
    return path.replace("%J", "%j")


def time_option(minutes: int) -> str:
    return f"--time={minutes // 60}:{minutes % 60:02d}:00"


def render(plan: LaunchPlan, ctx: ScriptContext, settings: dict[str, Any]) -> str:
    comps = components(plan)
    lines = ["#!/bin/bash",
             f"# hpcai job script for Slurm: {plan.name} ({plan.job_uuid})",
             f"# ranks: {plan.world_size}; roles: "
             + ", ".join(f"{r.name} x{r.replicas}" for r in plan.roles)]
    head = [f"--job-name={plan.name}", f"--comment=hpcai:{plan.job_uuid}",
            f"--chdir={ctx.cwd}", f"--output={slurm_path(ctx.stdout)}"]
    if plan.array_size:
        head[-1] = f"--output={slurm_path(ctx.stdout).replace('%j', '%A_%a')}"
        head.append(f"--array=0-{plan.array_size - 1}")
    if ctx.stderr:
        err = slurm_path(ctx.stderr)
        head.append(f"--error={err.replace('%j', '%A_%a') if plan.array_size else err}")
    if plan.time_limit_min:
        head.append(time_option(plan.time_limit_min))
    for extra in settings.get("sbatch_options", []):
        head.append(str(extra))
    for i, comp in enumerate(comps):
        if i:
            lines.append("#SBATCH hetjob")
        opts = (head if i == 0 else []) + resource_options(comp, settings)
        part = partition_for(plan.queue, comp.request.gpus, settings)
        if part:
            opts.append(f"--partition={part}")
        node = node_option(comp.request.host, settings)
        if node:
            opts.append(node)
        lines += [f"#SBATCH {o}" for o in opts]
    if len(comps) > 1:
        lines.append(f"# heterogeneous job: components {', '.join('+'.join(c.roles) for c in comps)}")
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(ctx.env.items())]
    if settings.get("step_retry_seconds") is not None:  # jairun retries the srun step this long
        lines.append(f"export HPCAI_STEP_RETRY_SECONDS={float(settings['step_retry_seconds']):g}")
    job_dir = shlex.quote(ctx.job_dir)
    ec_file = f"{job_dir}/exit_code"
    if plan.array_size:
        lines += ['export HPCAI_JOB_ID="${SLURM_ARRAY_JOB_ID}"',
                  'export HPCAI_ARRAY_INDEX="${SLURM_ARRAY_TASK_ID}"']
        ec_file += '."${SLURM_ARRAY_TASK_ID}"'
    else:
        lines.append('export HPCAI_JOB_ID="${SLURM_JOB_ID}"')
    lines.append('export LSB_JOBID="${HPCAI_JOB_ID}"')
    lines += run_body_lines(ctx.cwd, ctx.body, ec_file)
    return "\n".join(lines)
