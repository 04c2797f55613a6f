"""Placement of ranks and the job-side template variables (the env contract's raw material)."""

import pytest

from core.plan import LaunchPlan, ResourceRequest, Role, place, resolve, template_variables


def plan(*roles: Role, ports=(29501,)) -> LaunchPlan:
    return LaunchPlan(job_uuid="u", name="n", user="me", roles=list(roles), workdir="/w", ports=list(ports))


def test_ranks_fill_hosts_in_order_and_count_processes():
    p = plan(Role("worker", 4, ResourceRequest(cpus=2), ["x"]))
    placed = place(p, [("n1", 4), ("n2", 4)])
    assert [(x.rank, x.host, x.local_rank, x.node_rank) for x in placed] == [
        (0, "n1", 0, 0), (1, "n1", 1, 0), (2, "n2", 0, 1), (3, "n2", 1, 1)]
    assert all(x.local_world_size == 2 for x in placed)
    v = template_variables(p, placed, placed[3])
    assert (v["rank"], v["world_size"], v["nnodes"], v["head_host"], v["port0"]) == ("3", "4", "2", "n1", "29501")


def test_roles_are_numbered_across_roles_and_listed_by_role():
    p = plan(Role("server", 1, ResourceRequest(cpus=1), ["s"]), Role("worker", 2, ResourceRequest(cpus=1), ["w"]))
    placed = place(p, [("a", 8)])
    assert [(x.role, x.role_rank, x.rank) for x in placed] == [("server", 0, 0), ("worker", 0, 1), ("worker", 1, 2)]
    v = template_variables(p, placed, placed[2])
    assert v["role_hosts.worker"] == "a,a" and v["role_size.server"] == "1" and v["role_rank"] == "1"


def test_unknown_template_variable_is_an_error_naming_it():
    with pytest.raises(KeyError, match="nosuch"):
        resolve("{{ nosuch }}", {"rank": "0"})
    assert resolve("{{rank}}-{{ rank }}", {"rank": "7"}) == "7-7"


def test_plan_json_round_trip():
    p = plan(Role("worker", 2, ResourceRequest(cpus=1, gpus=1, gpu_mode="shared"), ["a"], {"K": "{{rank}}"}))
    again = LaunchPlan.from_json(p.to_json())
    assert again == p and again.world_size == 2 and again.total_gpus == 2
