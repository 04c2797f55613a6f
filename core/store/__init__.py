"""The metadata store: SQLAlchemy 2 models on SQLite (embedded) or PostgreSQL (at scale)."""

from core.store.db import MAX_ID, Store, id_in_range, open_store
from core.store.models import (AccountRow, ApiTokenRow, Base, DatasetRow, GroupMemberRow, JobRow, LoginFailureRow,
                               PluginSettingRow, PortAllocation, PresetRow, ResourceSpecRow, ServiceKeyRow,
                               ServiceRow, SiteSettingRow)

__all__ = ["Store", "open_store", "MAX_ID", "id_in_range", "Base", "JobRow", "PortAllocation",
           "ResourceSpecRow", "AccountRow", "GroupMemberRow", "ApiTokenRow", "PresetRow", "PluginSettingRow",
           "DatasetRow", "ServiceRow", "ServiceKeyRow", "LoginFailureRow", "SiteSettingRow"]
