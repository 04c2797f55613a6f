"""The environments table (migration 0017_environments)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.store.models import Base, utcnow


class EnvironmentRow(Base):
    """One development environment; `values` run now, `pending` waits for the next (re)start (F21)."""

    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("user", "name", name="uq_environments_user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="")
    # image, resource_spec, shm_mb, ports, mounts, ssh, workdir: what the running start uses
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pending: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # modified, applied at restart
    ssh: Mapped[bool] = mapped_column(Boolean, default=False)
    service_alias: Mapped[str | None] = mapped_column(String(160))  # its one service (origin devenv)
    # SSH (migration 0018): the generated login and its password sealed with the site key; the
    # card shows both to the owner while it runs (spec 01 §5 rule 3), the job gets only the hash
    ssh_login: Mapped[str | None] = mapped_column(String(64))
    ssh_secret: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
