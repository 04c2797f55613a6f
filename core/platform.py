"""One object per process that ties configuration, plugins, store and catalogs together."""

from __future__ import annotations

from functools import cached_property

from core.config import Config, load_config
from core.experiments import ExperimentService
from core.images import ImageCatalog
from core.jobs import JobService
from core.plugins import Registry, get_registry
from core.specs import SpecCatalog
from core.store import Store, open_store


class Platform:
    def __init__(self, config: Config | None = None):
        self.config = config or load_config()

    @cached_property
    def registry(self) -> Registry:
        return get_registry(self.config)

    @cached_property
    def store(self) -> Store:
        return open_store(self.config.db_url)

    @cached_property
    def specs(self) -> SpecCatalog:
        return SpecCatalog(self.store, self.config.specs_file)

    @cached_property
    def images(self) -> ImageCatalog:
        return ImageCatalog(self.config.images_file, self.config.home, self.config.images_dir)

    @cached_property
    def jobs(self) -> JobService:
        return JobService(self)

    @cached_property
    def experiments(self) -> ExperimentService:
        """Experiment data from the tracking server, filtered by what each user may see."""
        return ExperimentService(self)
