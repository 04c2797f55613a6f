"""One object per process that ties configuration, plugins, store and catalogs together."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from core.accounts import Accounts, LoginPolicy
from core.config import Config, load_config

if TYPE_CHECKING:
    from core.environments.service import EnvironmentService
    from core.rl.simenvs.service import SimEnvService
    from core.rl.runs import RLRuns
from core.datasets import DatasetService
from core.errors import HpcaiError
from core.experiments import ExperimentService
from core.joblinks import JobLinks
from core.files import Workspace
from core.containers.wiring import image_library
from core.containers.library import ImageLibrary
from core.images import ImageCatalog
from core.jobs import JobService
from core.labeling.service import LabelingService
from core.labeling.sources import Accounts as LabelAccounts
from core.labeling.sources import Datasets as LabelDatasets
from core.plugin_settings import PluginSettings
from core.models.pipeline_source import RegistryModelSource
from core.models.service import ModelService
from core.monitor import ClusterMonitor
from core.pipelines.service import PipelineService
from core.plugins import Registry, get_registry
from core.presets import Presets
from core.services import ServiceManager
from core.site_settings import SiteSettings
from core.specs import SpecCatalog
from core.statefiles import secure_data_dir
from core.store import Store, open_store


class Platform:
    def __init__(self, config: Config | None = None):
        self.config = config or load_config()
        secure_data_dir(self.config)  # the platform's state is the platform's alone

    @cached_property
    def registry(self) -> Registry:
        try:
            config = self.plugin_settings.apply(self.config)
        except (HpcaiError, SQLAlchemyError):  # no store: the file's plugin lists still hold
            config = self.config
        return get_registry(config)

    @cached_property
    def plugin_settings(self) -> PluginSettings:
        return PluginSettings(self.store)

    def switch_plugin(self, plugin: str, enabled: bool, by: str) -> Registry:
        """Enable or disable an installed plugin for every process; returns the new registry."""
        infos = self.registry.list()
        protected = [i.plugin for i in infos
                     if (i.kind, i.name) in (("scheduler", self.config.default_scheduler),
                                             ("runtime", self.config.default_runtime))]
        self.plugin_settings.set(plugin, enabled, by, sorted({i.plugin for i in infos}), protected)
        return self.reload_plugins()

    def reload_plugins(self) -> Registry:
        """Rebuild the registry after an administrator switched a plugin on or off."""
        self.__dict__.pop("registry", None)
        return self.registry

    @cached_property
    def store(self) -> Store:
        return open_store(self.config.db_url)

    @cached_property
    def settings(self) -> SiteSettings:
        return SiteSettings(self.store, self.config)

    @cached_property
    def specs(self) -> SpecCatalog:
        return SpecCatalog(self.store, self.config.specs_file)

    @cached_property
    def images(self) -> ImageCatalog:
        catalog = ImageCatalog(self.config.images_file, self.config.home, self.config.images_dir)
        catalog.user_images = lambda user: self.containers.images_for(user)  # My and shared images
        return catalog

    @cached_property
    def containers(self) -> ImageLibrary:
        """Image management: built-in, shared and My container images; pull, push, build, save."""
        return image_library(self)

    @cached_property
    def jobs(self) -> JobService:
        return JobService(self)

    @cached_property
    def accounts(self) -> Accounts:
        return Accounts(self.store, LoginPolicy.from_config(self.config.raw.get("portal", {})))

    @cached_property
    def presets(self) -> Presets:
        return Presets(self.store)

    @cached_property
    def workspace(self) -> Workspace:
        return Workspace(self.config)

    @cached_property
    def services(self) -> ServiceManager:
        return ServiceManager(self)

    @cached_property
    def environments(self) -> "EnvironmentService":
        """Development environments (core.environments), each one service of origin devenv."""
        from core.environments.service import EnvironmentService

        return EnvironmentService(
            self.store, self.services, self.images, lambda: self.registry, self.workspace.home,
            lambda user: [s.name for s in self.specs.visible(user, self.jobs.groups_of(user))],
            self.datasets.box,
            lambda user, name: self.specs.get_visible(name, user, self.jobs.groups_of(user), "resource_spec"),
            tokens=self.accounts, portal_url=self.portal_url)

    def portal_url(self) -> str:
        """The portal's own URL, for what calls its API from the cluster (an environment's jsub):
        [portal] url, else the address `hpcai serve` listens on (HPCAI_PORTAL_LISTEN, set by it)."""
        import os

        url = self.config.raw.get("portal", {}).get("url") or os.environ.get("HPCAI_PORTAL_LISTEN")
        return str(url or "http://127.0.0.1:8080").rstrip("/")

    @cached_property
    def monitor(self) -> ClusterMonitor:
        return ClusterMonitor(self, ttl=float(self.config.raw.get("portal", {}).get("monitor_ttl", 30)))

    @cached_property
    def datasets(self) -> DatasetService:
        return DatasetService(self)

    @cached_property
    def labeling(self) -> LabelingService:
        """Labeling tasks over media datasets (core.labeling: its own narrow interfaces)."""
        return LabelingService(self.store, LabelDatasets(self.datasets), LabelAccounts(self.accounts),
                               self.workspace, lambda: self.registry)

    @cached_property
    def links(self) -> JobLinks:
        """Links and actions of a job's page (dashboards, experiment data)."""
        return JobLinks(self)

    @cached_property
    def experiments(self) -> ExperimentService:
        """Experiment data from the tracking server, filtered by what each user may see."""
        return ExperimentService(self)

    @cached_property
    def models(self) -> ModelService:
        """The model registry (core.models), wired to narrow functions of the rest."""
        from core.models.wiring import model_deps

        return ModelService(model_deps(self))

    @cached_property
    def pipelines(self) -> PipelineService:
        """The visual designer's pipelines, instances and custom functions."""
        return PipelineService(self.store, self.registry.active, self.jobs, self.workspace.home,
                               models=RegistryModelSource(lambda: self.models),
                               resolvers={"simulation-environment": lambda user, props: {
                                   "simulator": self.rl_envs.resolve(user, props.get("simulation_environment"))}})

    @cached_property
    def rl_runs(self) -> "RLRuns":
        """RL training runs (core.rl.runs): one scheduler job each, with its Ray ports allocated."""
        from core.rl.runs import RLRuns

        return RLRuns(self.jobs, self.workspace.home)

    @cached_property
    def rl_envs(self) -> "SimEnvService":
        """RL simulation environments (core.rl.simenvs), wired to narrow functions of the rest."""
        from core.files import account_owner
        from core.rl.simenvs.service import SimEnvDeps, SimEnvService

        return SimEnvService(SimEnvDeps(
            store=self.store,
            check_path=lambda user, path, fld, must_exist=True: self.workspace.check(user, path, field=fld,
                                                                                   must_exist=must_exist),
            home=self.workspace.home, upload=self.workspace.upload,
            owner_of=lambda user: account_owner(self.config, user),
            classification_enabled=self.settings.classification_enabled,
            classification_levels=self.settings.classification_levels, is_admin=self.jobs.is_admin))
