"""The metadata store: SQLAlchemy 2 models on SQLite (embedded) or PostgreSQL (at scale)."""

from core.store.db import MAX_ID, Store, id_in_range, open_store
from core.store.models import (AccountRow, ApiTokenRow, Base, ContainerImageRow, DatasetRow, GroupMemberRow, JobRow,
                               LoginFailureRow,
                               PluginSettingRow, PortAllocation, PresetRow, ResourceSpecRow, ServiceKeyRow,
                               PortalSessionRow, ServiceRow, SiteSettingRow)

__all__ = ["Store", "open_store", "MAX_ID", "id_in_range", "Base", "JobRow", "PortAllocation",
           "ResourceSpecRow", "AccountRow", "GroupMemberRow", "ApiTokenRow", "PresetRow", "PluginSettingRow",
           "DatasetRow", "ServiceRow", "ServiceKeyRow", "LoginFailureRow", "SiteSettingRow",
           "PortalSessionRow", "ContainerImageRow"]

# Domain packages keep their tables beside their code (core/<domain>/models.py); importing them
# here puts every table in Base.metadata, which Alembic and the model/migration check compare.
import core.environments.models  # noqa: E402,F401
import core.labeling.models  # noqa: E402,F401
import core.rl.simenvs.tables  # noqa: E402,F401
