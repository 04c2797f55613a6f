"""A third-party framework plugin, as another team would ship it: it knows only core's API."""

from typing import Any

from core.api import Framework
from core.hookspecs import hookimpl
from core.plan import LaunchPlan


class Hello(Framework):
    name = "hello"
    title = "Hello framework"
    modes = ("standalone",)
    image_tag = ""  # runs in any image of the catalog
    default_job_name = "hello"
    reserved_env = {"standalone": ("HELLO_GREETING",)}

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {
            "greeting": {"type": "string", "title": "Greeting", "default": "hello", "minLength": 1}}}

    def contract(self, mode: str, plan: LaunchPlan) -> dict[str, dict[str, str]]:
        return {r.name: {"HELLO_GREETING": plan.options["greeting"]} for r in plan.roles}


@hookimpl
def hpcai_frameworks() -> list[Framework]:
    return [Hello()]
