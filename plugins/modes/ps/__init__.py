"""Parameter-server mode: servers and workers, each group on its own resource spec.

Every rank owns one port (its endpoint, `{{rank_port}}`, listed per role in
`{{endpoints.server}}`/`{{endpoints.worker}}`), and the job has one coordinator port
(`{{port0}}`) for frameworks whose PS runtime needs a scheduler process (MindSpore).
"""

from __future__ import annotations

from typing import Any, Callable

from core.api import ParallelMode
from core.errors import ValidationError
from core.hookspecs import hookimpl
from core.plan import ResourceRequest, Role, RoleGroup

ROLE_TAGS = ("server", "worker")


class ParameterServer(ParallelMode):
    name = "ps"
    title = "Parameter server (PS) parallel"
    description = "S server processes and W worker processes; spans nodes."
    ports = 1
    rank_ports = 1
    topology_fields = ("servers", "server_spec", "workers", "worker_spec")

    def option_schema(self) -> dict[str, Any]:
        def count(title: str, default: int, order: int, flag: str) -> dict[str, Any]:
            return {"type": "integer", "title": title, "minimum": 1, "default": default,
                    "x-order": order, "x-fix": f"give at least 1, e.g. {flag} 1"}

        def spec(title: str, order: int) -> dict[str, Any]:
            return {"type": "string", "title": title, "x-widget": "resource-spec", "x-order": order,
                    "x-fix": "choose a spec from `hpcai specs`"}

        return {
            "type": "object",
            "required": ["servers", "server_spec", "workers", "worker_spec"],
            "properties": {
                "servers": count("Server count", 1, 19, "--servers"),
                "server_spec": spec("Resource specification (server)", 20),
                "workers": count("Worker count", 2, 21, "--workers"),
                "worker_spec": spec("Resource specification (worker)", 22),
            },
        }

    def groups_from_options(self, options: dict[str, Any],
                            spec: Callable[[str, str], ResourceRequest]) -> list[RoleGroup]:
        return [RoleGroup(int(options["servers"]), spec("server_spec", options["server_spec"]), tag="server"),
                RoleGroup(int(options["workers"]), spec("worker_spec", options["worker_spec"]), tag="worker")]

    def roles(self, groups: list[RoleGroup], argv: list[str]) -> list[Role]:
        out: list[Role] = []
        for tag in ROLE_TAGS:
            mine = [g for g in groups if g.tag == tag]
            count = sum(g.count for g in mine)
            if count < 1:
                field = f"{tag}s" if all(g.tag in ROLE_TAGS for g in groups) and groups else "machine_file"
                raise ValidationError(f"a parameter-server job needs at least one {tag}", field=field,
                                      fix=f"give --{tag}s 1 or more (machine file: a line tagged tag:\"{tag}\")")
            if any(g.request != mine[0].request for g in mine[1:]):
                raise ValidationError(f"all {tag}s must have the same resources", field="machine_file",
                                      fix=f"use one line tagged tag:\"{tag}\"")
            out.append(Role(name=tag, replicas=count, request=mine[0].request, argv=list(argv)))
        other = sorted({str(g.tag) for g in groups if g.tag not in ROLE_TAGS})
        if other:
            raise ValidationError(f"unknown role tag(s) {', '.join(other)}", field="machine_file",
                                  fix='tag each line tag:"server" or tag:"worker"')
        return out


@hookimpl
def hpcai_parallel_modes() -> list[ParallelMode]:
    return [ParameterServer()]
