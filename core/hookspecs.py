"""The contract of the whole platform: every hook a plugin may implement.

Plugins are modules registered under the `hpcai` entry-point group; they implement some of
these hooks with `@core.hookimpl`. Registry hooks return descriptor objects (see core.api);
the core collects them from every enabled plugin. Policy hooks let a site add rules without
touching hpcai (compare Slurm's job_submit plugins and LSF's esub).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from core.api import (DatasetBackend, EnvironmentType, Framework, JobLink, JobOption, ParallelMode, Runtime,
                          Scheduler, ServiceType)
    from core.models.types import Converter
    from core.pipelines.components import Component
    from core.labeling.api import LabelExporter, LabelTemplate
    from core.types import JobRequest, JobState

hookspec = pluggy.HookspecMarker("hpcai")
hookimpl = pluggy.HookimplMarker("hpcai")


# --- registry hooks: called once when the plugin manager is built; results are collected ----

@hookspec
def hpcai_schedulers() -> list["Scheduler"]:
    """Return the scheduler descriptors this plugin provides (local, slurm, lsf, drmaa ...)."""


@hookspec
def hpcai_frameworks() -> list["Framework"]:
    """Return training-framework descriptors: the modes each offers and its env contract."""


@hookspec
def hpcai_parallel_modes() -> list["ParallelMode"]:
    """Return parallel-mode descriptors: the topology (roles, counts, resources) of a job."""


@hookspec
def hpcai_runtimes() -> list["Runtime"]:
    """Return runtime descriptors that wrap a rank's command (host process, Apptainer, ...)."""


@hookspec
def hpcai_job_options() -> list["JobOption"]:
    """Return job-option descriptors: extra fields any training job may carry (auto-tuning,
    datasets ...). Their schema is merged into every job form; `apply` may amend the plan."""


@hookspec
def hpcai_dataset_backends() -> list["DatasetBackend"]:
    """Return dataset-backend descriptors (data files, PostgreSQL, HDFS, MySQL ...): the
    categories each holds, its option schema, connection test, streamed preview and how a job
    gets the data. A new storage backend is a new plugin implementing this hook."""


@hookspec
def hpcai_service_types() -> list["ServiceType"]:
    """Return service-type descriptors (TensorBoard, TorchServe ...): option schema, start plan
    (command, ports, health path), proxy rules, request example, whether API keys apply."""


@hookspec
def hpcai_environment_types() -> list["EnvironmentType"]:
    """Return development-environment types (core.api.EnvironmentType: JupyterLab, Web terminal,
    RStudio ...): the image tag their images carry, the server's start plan under the proxy
    path, and why the type cannot start on this site (check_available). core.environments
    creates, modifies, starts and stops them; each runs as one service of origin devenv."""


@hookspec
def hpcai_model_converters() -> list["Converter"]:
    """Return model-converter descriptors (core.models.types.Converter): one source framework
    (PyTorch, TensorFlow, scikit-learn, Paddle ...) to ONNX. Each declares the catalog image its
    conversion job runs in, an option schema (input shape, opset ...) and `plan(options,
    source_dir)`, which validates against the version's files (raising ValidationError naming the
    field) and returns the job-side script. The registry runs it as a scheduler job of the user;
    its result is a new version in Triton's layout, checked in onnxruntime."""


@hookspec
def hpcai_pipeline_components() -> list["Component"]:
    """Return pipeline-designer components (core.pipelines.components.Component): palette
    category, typed ports, property schema and the job-side code ("module:function") each
    contributes. Called when the component catalog is built (once per registry); names must be
    unique over all enabled plugins. Long families (Keras layers, scikit-learn estimators) are
    table rows mapped onto the library's own classes, not a class each."""


@hookspec
def hpcai_job_links(job: dict[str, Any]) -> list["JobLink"]:
    """Return links or actions for one job's detail page, its row in My jobs (as icons: see
    JobLink.icon) and the API (e.g. "View experiment data"), or an empty list when none apply.
    Called each time a job's details or a page of the job list are shown, only for
    enabled plugins. `job` has the job's `id`, `uuid`, `name`, `user`, `framework`, `mode`, `state`,
    `job_dir`, `workdir` and `request` (options included). Must be cheap: no network calls."""


@hookspec
def hpcai_labeling_templates() -> list["LabelTemplate"]:
    """Return labeling-template descriptors (core.labeling.api.LabelTemplate): one annotation
    scenario each (image boxes, text entities, audio segments ...), its media category, the
    Label Studio config it renders for a task's label set and the result kinds it produces.
    The New-labeling-task form offers every enabled template of the dataset's category."""


@hookspec
def hpcai_label_exporters() -> list["LabelExporter"]:
    """Return label-exporter descriptors (core.labeling.api.LabelExporter): one standard format
    each (COCO, Pascal VOC, YOLO, JSON lines, CSV ...), the result kinds it can write and,
    where `can_import`, a reader that turns the format into pre-annotations."""


# --- policy hooks: every implementation is called, in registration order ---------------------

@hookspec
def hpcai_validate_job(request: "JobRequest", user: str) -> None:
    """Reject a job before anything is created by raising core.errors.ValidationError with a
    message that says what to change (quota, naming rules, forbidden image ...)."""


@hookspec
def hpcai_amend_job(request: "JobRequest", user: str) -> None:
    """Change a valid request in place before it is planned (inject env, mounts, accounts)."""


@hookspec
def hpcai_job_state_changed(job: Any, old: "JobState | None", new: "JobState") -> None:
    """Called after the store records a state change (notify, audit, archive). Must not raise."""
