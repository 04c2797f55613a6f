"""The launch plan: what runs, how many times, with which environment.

This module is imported by the job-side launcher (`hooks/jairun`), so it stays small and
depends on the standard library only. Plugins fill a plan at submit time; placement-dependent
values (which host holds rank 0, this process's rank) are written as `{{variable}}` templates
and resolved on the allocated nodes by `resolve()`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

PLAN_VERSION = 1


@dataclass
class ResourceRequest:
    """What one instance of a role needs: from a resource spec or a machine-file group."""

    cpus: int = 1
    mem_mb: int | None = None
    gpus: int = 0
    gpu_type: str | None = None
    gpu_mode: str | None = None  # exclusive | shared | mig
    host: str | None = None  # node or node group; None means any
    spec: str | None = None  # name of the resource spec it came from


@dataclass
class RoleGroup:
    """`count` instances with the same request, optionally tagged (PS "server"/"worker")."""

    count: int
    request: ResourceRequest
    tag: str | None = None


@dataclass
class Role:
    """One kind of process in the job (cf. TorchX's Role). Ranks are numbered across roles in order."""

    name: str
    replicas: int
    request: ResourceRequest
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    #: "each": the launcher starts every instance; "first": it starts only instance 0, whose
    #: command (horovodrun, mpirun ...) spawns the others from the hostfile
    start: str = "each"
    #: a service role (parameter servers ...) that never ends by itself: the launcher stops it
    #: once every other rank has exited successfully, and the job succeeds
    daemon: bool = False


@dataclass
class LaunchPlan:
    job_uuid: str
    name: str
    user: str
    roles: list[Role]
    workdir: str
    framework: str | None = None
    mode: str = "standalone"
    runtime: str = "host"
    scheduler: str = "local"
    env: dict[str, str] = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)
    queue: str | None = None
    time_limit_min: int | None = None
    options: dict[str, Any] = field(default_factory=dict)  # plugin-contributed job fields
    launcher: str = "fork"  # how jairun starts ranks: fork (this node) or srun (Slurm)
    # >0: that many identical copies of this job (HPCAI_ARRAY_INDEX 0..n-1): a job array where the
    # scheduler has arrays; when a job option asks (auto-tuning workers) on a scheduler without
    # arrays, JobService submits that many jobs instead.
    array_size: int = 0
    #: ports each rank owns (its endpoint), allocated after the job's own ports in `ports`
    rank_ports: int = 0
    #: the Unix identity the job's code runs as (core.identity.RunAs.as_dict), resolved at submit
    run_as: dict[str, Any] = field(default_factory=dict)
    version: int = PLAN_VERSION

    @property
    def world_size(self) -> int:
        return sum(r.replicas for r in self.roles)

    @property
    def total_cpus(self) -> int:
        return sum(r.replicas * r.request.cpus for r in self.roles)

    @property
    def total_gpus(self) -> int:
        return sum(r.replicas * r.request.gpus for r in self.roles)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LaunchPlan":
        data = dict(data)
        roles = []
        for r in data.pop("roles"):
            r = dict(r)
            r["request"] = ResourceRequest(**r["request"])
            roles.append(Role(**r))
        return cls(roles=roles, **data)

    @classmethod
    def from_json(cls, text: str) -> "LaunchPlan":
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class Placement:
    """Where one rank runs. Built by the launcher from the allocation it was given."""

    rank: int
    role: str
    role_rank: int
    host: str
    local_rank: int
    local_world_size: int
    node_rank: int


def place(plan: LaunchPlan, hosts: list[tuple[str, int]]) -> list[Placement]:
    """Assign ranks to hosts in order, filling each host's slots (counted in CPUs) before the next.

    `hosts` is [(hostname, cpu_slots)]. A rank never straddles hosts; when slots run out the
    remaining ranks go to the last host (the scheduler already admitted the job, so this only
    happens when slots were counted differently, e.g. oversubscribed local runs).
    """
    out: list[Placement] = []
    host_index, used = 0, 0
    rank = 0
    per_host: dict[int, int] = {}
    assignments: list[tuple[Role, int, int]] = []
    for role in plan.roles:
        for role_rank in range(role.replicas):
            need = max(role.request.cpus, 1)
            while host_index < len(hosts) - 1 and used + need > hosts[host_index][1]:
                host_index, used = host_index + 1, 0
            used += need
            assignments.append((role, role_rank, host_index))
            per_host[host_index] = per_host.get(host_index, 0) + 1
    used_hosts = sorted(per_host)
    node_rank_of = {h: i for i, h in enumerate(used_hosts)}
    local_counter: dict[int, int] = {}
    for role, role_rank, h in assignments:
        local = local_counter.get(h, 0)
        local_counter[h] = local + 1
        out.append(Placement(rank=rank, role=role.name, role_rank=role_rank, host=hosts[h][0],
                             local_rank=local, local_world_size=per_host[h],
                             node_rank=node_rank_of[h]))
        rank += 1
    return out


_VAR = re.compile(r"\{\{\s*([a-zA-Z0-9_.:-]+)\s*\}\}")


def rank_port(plan: LaunchPlan, rank: int, which: int = 0) -> int | None:
    """The `which`-th own port of a rank (None when the plan gives ranks no ports)."""
    if plan.rank_ports <= which:
        return None
    job_ports = len(plan.ports) - plan.world_size * plan.rank_ports
    index = job_ports + rank * plan.rank_ports + which
    return plan.ports[index] if 0 <= index < len(plan.ports) else None


def job_files(job_dir: str) -> dict[str, str]:
    """Paths of the files the launcher writes into the job directory before ranks start."""
    return {"hostfile": f"{job_dir}/hostfile", "nodefile": f"{job_dir}/nodefile"}


def host_slots(placements: list[Placement]) -> list[tuple[str, int]]:
    """[(host, ranks placed there)] in placement order: what horovodrun -H / mpirun want."""
    out: dict[str, int] = {}
    for p in placements:
        out[p.host] = out.get(p.host, 0) + 1
    return list(out.items())


def hostfile_text(placements: list[Placement]) -> str:
    """`host slots=N` per line: the hostfile format of mpirun, horovodrun and deepspeed."""
    return "".join(f"{h} slots={n}\n" for h, n in host_slots(placements))


def nodefile_text(placements: list[Placement]) -> str:
    """One line per rank (PBS_NODEFILE style), in rank order."""
    return "".join(f"{p.host}\n" for p in placements)


def interface_for(address: str) -> str | None:
    """The network interface this host uses to reach `address` (lo for a local address).

    Reads /proc/net/route (Linux) so no subprocess or third-party module is needed; None
    when it cannot tell.
    """
    import ipaddress
    import socket

    try:
        target = ipaddress.ip_address(socket.gethostbyname(address))
    except (OSError, ValueError):
        return None
    if target.is_loopback:
        return "lo"
    mine = local_addresses()
    for iface, addr in mine.items():
        if addr == str(target):
            return "lo"  # our own address: the traffic stays on this host
    best: tuple[int, str] | None = None
    try:
        lines = open("/proc/net/route").read().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        f = line.split()
        if len(f) < 8:
            continue
        dest = int(f[1], 16).to_bytes(4, "little")
        mask = int(f[7], 16).to_bytes(4, "little")
        net = ipaddress.ip_network(f"{ipaddress.ip_address(dest)}/{ipaddress.ip_address(mask)}",
                                   strict=False)
        if target in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, f[0])
    return best[1] if best else None


def local_addresses() -> dict[str, str]:
    """{interface: IPv4 address} of this host's configured interfaces (empty when unknown)."""
    import fcntl
    import socket
    import struct

    out: dict[str, str] = {}
    try:
        names = [n for _, n in socket.if_nameindex()]
    except OSError:
        return out
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for name in names:
            try:
                packed = fcntl.ioctl(s.fileno(), 0x8915,  # SIOCGIFADDR
                                     struct.pack("256s", name[:15].encode()))
            except OSError:
                continue
            out[name] = socket.inet_ntoa(packed[20:24])
    return out


def template_variables(plan: LaunchPlan, placements: list[Placement], me: Placement,
                       extra: dict[str, str] | None = None, job_dir: str = "") -> dict[str, str]:
    """The variables a plugin's env or argv template may use, for one rank.

    Per role R: `role_size.R`, `role_hosts.R` (one host per instance), `role_head.R` (host of
    instance 0), `endpoints.R` (host:port of each instance, from the ranks' own ports) and
    `endpoints_json.R` (the same as a JSON list, for TF_CONFIG). `rank_port` is this rank's own
    port; `hostfile`/`nodefile` the files the launcher writes; `host_slots` is `h:n,...`.
    """
    hosts_in_order: list[str] = []
    for p in placements:
        if p.host not in hosts_in_order:
            hosts_in_order.append(p.host)
    vars_: dict[str, str] = {
        "rank": str(me.rank),
        "local_rank": str(me.local_rank),
        "world_size": str(len(placements)),
        "local_world_size": str(me.local_world_size),
        "node_rank": str(me.node_rank),
        "nnodes": str(len(hosts_in_order)),
        "role": me.role,
        "role_rank": str(me.role_rank),
        "host": me.host,
        "head_host": placements[0].host,
        "hosts": ",".join(hosts_in_order),
        "host_slots": ",".join(f"{h}:{n}" for h, n in host_slots(placements)),
        "job_uuid": plan.job_uuid,
        "job_dir": job_dir,
        **job_files(job_dir),
    }
    for i, port in enumerate(plan.ports):
        vars_[f"port{i}"] = str(port)
    own = rank_port(plan, me.rank)
    if own is not None:
        vars_["rank_port"] = str(own)
    all_endpoints = []
    for role in plan.roles:
        members = [p for p in placements if p.role == role.name]
        vars_[f"role_size.{role.name}"] = str(len(members))
        vars_[f"role_hosts.{role.name}"] = ",".join(p.host for p in members)
        vars_[f"role_head.{role.name}"] = members[0].host if members else ""
        if plan.rank_ports:
            endpoints = [f"{p.host}:{rank_port(plan, p.rank)}" for p in members]
            all_endpoints += endpoints
            vars_[f"endpoints.{role.name}"] = ",".join(endpoints)
            vars_[f"endpoints_json.{role.name}"] = json.dumps(endpoints)
    if plan.rank_ports:
        vars_["endpoints"] = ",".join(all_endpoints)
    vars_.update(extra or {})
    return vars_


def resolve(text: str, variables: dict[str, str]) -> str:
    """Replace `{{name}}` by its value; an unknown name is an error in the plugin that wrote it."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in variables:
            raise KeyError(f"unknown template variable {{{{{name}}}}}; known: {sorted(variables)}")
        return variables[name]

    return _VAR.sub(sub, text)


def template_names(text: str) -> set[str]:
    return set(_VAR.findall(text))
