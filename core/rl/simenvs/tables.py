"""The simulation-environment table (Alembic revision 0019_rl_simenvs)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.store.models import Base, utcnow


class SimEnvRow(Base):
    """One registered simulator. Names are unique across the site (spec 04 §1.1: "must not equal
    an existing simulation-environment name"), so a pipeline's selection names one environment."""

    __tablename__ = "rl_simenvs"
    __table_args__ = (UniqueConstraint("name", name="uq_rl_simenvs_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    owner: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    install_mode: Mapped[str] = mapped_column(String(16), nullable=False, default="green")  # green | installed
    classification: Mapped[str | None] = mapped_column(String(32))
    # green package: the archive (absolute), whether the platform stored it from an upload (then
    # deleting the environment deletes it), the start file as given and its path inside the archive
    archive: Mapped[str | None] = mapped_column(String(1024))
    uploaded: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    start_file: Mapped[str | None] = mapped_column(String(255))
    start_member: Mapped[str | None] = mapped_column(String(1024))
    # installed environment
    os: Mapped[str] = mapped_column(String(16), nullable=False, default="Linux")
    python_builtin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    start_path: Mapped[str | None] = mapped_column(String(1024))
    run_mode: Mapped[str] = mapped_column(String(16), nullable=False, default="non-exclusive")
    ports: Mapped[int | None] = mapped_column(Integer)  # 1-5, or none
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                                 onupdate=utcnow)


__all__ = ["SimEnvRow"]
