"""TensorBoard as a service: serves a directory of event files under the proxy prefix."""

from __future__ import annotations

from typing import Any

from core.api import ServiceContext, ServiceType, StartPlan
from core.dashboards import LogDirDashboard
from core.hookspecs import hookimpl


class TensorBoard(LogDirDashboard):
    name = "tensorboard"
    title = "TensorBoard"
    description = "Visualise training event files (scalars, graphs, histograms)."
    requires = "tensorboard"
    logdir_hint = "the directory holding the events.out.tfevents.* files"
    missing_fix = "give the directory your training writes its event files to"

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        # TensorBoard serves under the proxy prefix itself, so its links and redirects are right.
        return StartPlan(argv=["{python}", "-m", "tensorboard.main", "--logdir", options["logdir"],
                               "--host", "{bind}", "--port", "{port}", "--path_prefix", "{base_path}"],
                         health_path="{base_path}/")


@hookimpl
def hpcai_service_types() -> list[ServiceType]:
    return [TensorBoard()]
