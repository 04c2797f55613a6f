"""The model registry's tables (Alembic revision 0012_models)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.store.models import Base, utcnow


class ModelRow(Base):
    """A registry entry ("model card"): one per owner and name in an area (my | shared)."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    area: Mapped[str] = mapped_column(String(8), nullable=False, default="my")  # my | shared
    purpose: Mapped[str] = mapped_column(String(32), nullable=False, default="other")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    model_dir: Mapped[str] = mapped_column(String(1024), nullable=False)
    is_lora: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    base_model_id: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    classification: Mapped[str | None] = mapped_column(String(32))
    mlflow_name: Mapped[str] = mapped_column(String(300), nullable=False, unique=True)
    share_group: Mapped[str | None] = mapped_column(String(64))
    share_users: Mapped[list[str]] = mapped_column(JSON, default=list)
    shared_from: Mapped[int | None] = mapped_column(Integer)  # the model a shared copy came from
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="ready")  # copying|ready|failed
    progress: Mapped[float] = mapped_column(Float, default=1.0)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("owner", "area", "name", name="uq_models_owner_area_name"),
                      Index("ix_models_area_group", "area", "share_group"),
                      Index("ix_models_owner_area_id", "owner", "area", "id"))  # "my models, newest first" pages


class ModelVersionRow(Base):
    """v1, v2 ... of a model: a directory of files, mirrored as an MLflow model version.

    A conversion's version exists from the moment its job is submitted; its state follows the
    job (converting -> ready | failed), so it is listed with its job from the start.
    """

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    model_dir: Mapped[str] = mapped_column(String(1024), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    format: Mapped[str | None] = mapped_column(String(32))  # onnx, sklearn, pytorch ... when known
    source_run_id: Mapped[str | None] = mapped_column(String(64))
    source_job_uuid: Mapped[str | None] = mapped_column(String(36))
    converted_from: Mapped[int | None] = mapped_column(Integer)  # version number of the source
    conversion_job_uuid: Mapped[str | None] = mapped_column(String(36))
    mlflow_version: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("model_id", "number", name="uq_model_versions_model_number"),)


class ModelServiceRow(Base):
    """A service deployed from a model version (the model's "Model services", F218)."""

    __tablename__ = "model_services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), nullable=False,
                                          index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    service_alias: Mapped[str] = mapped_column(String(160), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelTagRow(Base):
    """An administrator's model tag (F223): a category and a tag name."""

    __tablename__ = "model_tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("category", "name", name="uq_model_tags_category_name"),)


__all__ = ["ModelRow", "ModelVersionRow", "ModelServiceRow", "ModelTagRow"]
