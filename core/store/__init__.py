"""The metadata store: SQLAlchemy 2 models on SQLite (embedded) or PostgreSQL (at scale)."""

from core.store.db import Store, open_store
from core.store.models import (AccountRow, ApiTokenRow, Base, GroupMemberRow, JobRow, PortAllocation,
                               PresetRow, ResourceSpecRow)

__all__ = ["Store", "open_store", "Base", "JobRow", "PortAllocation", "ResourceSpecRow", "AccountRow",
           "GroupMemberRow", "ApiTokenRow", "PresetRow"]
