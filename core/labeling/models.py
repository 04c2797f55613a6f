"""The labeling tables (migration 0015_labeling). Items carry their annotation inline: the data
list, the annotator's page and the exporters each read one row per file, never a join."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.store.models import Base, utcnow


class LabelTaskRow(Base):
    __tablename__ = "label_tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    dataset_id: Mapped[str] = mapped_column(String(36), nullable=False)
    dataset_name: Mapped[str] = mapped_column(String(64), nullable=False)
    category: Mapped[str] = mapped_column(String(16), nullable=False)
    root: Mapped[str] = mapped_column(String(1024), nullable=False)  # the dataset's directory (full paths)
    template: Mapped[str] = mapped_column(String(64), nullable=False)
    labels: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    mode: Mapped[str] = mapped_column(String(16), nullable=False)  # personal | collaborative
    description: Mapped[str] = mapped_column(Text, default="")
    pre_annotation: Mapped[str | None] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # creating | ready | failed | ended
    message: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    subtask_size: Mapped[int | None] = mapped_column(Integer)
    annotators: Mapped[list[str]] = mapped_column(JSON, default=list)
    review: Mapped[bool] = mapped_column(Boolean, default=False)
    reviewers: Mapped[list[str]] = mapped_column(JSON, default=list)
    policy: Mapped[str | None] = mapped_column(String(16))  # percent | count
    policy_value: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("owner", "name", name="uq_label_tasks_owner_name"),)


class LabelSubTaskRow(Base):
    """One package of items and the one annotator who labels it (a personal task has one)."""

    __tablename__ = "label_subtasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(36), ForeignKey("label_tasks.id", ondelete="CASCADE"),
                                         nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    annotator: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # see core.labeling.rules.SUBTASK_STATES
    round: Mapped[int] = mapped_column(Integer, default=1)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    sample: Mapped[list[int]] = mapped_column(JSON, default=list)  # item ids the reviewer checks
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    verdict: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("task_id", "number", name="uq_label_subtasks_task_number"),
                      Index("ix_label_subtasks_annotator", "annotator"))


class LabelItemRow(Base):
    """One file of the task and its annotation (Label Studio's result JSON: the regions)."""

    __tablename__ = "label_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(36), ForeignKey("label_tasks.id", ondelete="CASCADE"),
                                         nullable=False)
    subtask_id: Mapped[int | None] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(1024), nullable=False)  # relative to the task's root
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    size: Mapped[int] = mapped_column(Integer, default=0)
    file_mtime: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="unlabeled")  # unlabeled|labeled
    result: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    draft: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # autosaved, not yet saved
    labeled_by: Mapped[str | None] = mapped_column(String(64))
    labeled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lead_time: Mapped[float] = mapped_column(Float, default=0.0)  # seconds spent labeling, summed
    review_mark: Mapped[str | None] = mapped_column(String(16))  # ok | has_errors
    review_comment: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=0)  # optimistic concurrency of saves

    # (task_id, id): the data list's keyset pages walk it in order, never sorting the task's rows
    __table_args__ = (Index("ix_label_items_task_id", "task_id", "id"),
                      Index("ix_label_items_task_status", "task_id", "status", "id"),
                      Index("ix_label_items_task_subtask", "task_id", "subtask_id", "id"),
                      Index("ix_label_items_task_name", "task_id", "name"),
                      Index("ix_label_items_task_path", "task_id", "path"))


class LabelReviewRow(Base):
    """The history of verdicts (the sub-task keeps only the last)."""

    __tablename__ = "label_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(36), ForeignKey("label_tasks.id", ondelete="CASCADE"),
                                         nullable=False, index=True)
    subtask_id: Mapped[int] = mapped_column(Integer, nullable=False)
    round: Mapped[int] = mapped_column(Integer, nullable=False)
    reviewer: Mapped[str] = mapped_column(String(64), nullable=False)
    verdict: Mapped[str] = mapped_column(String(16), nullable=False)
    comment: Mapped[str] = mapped_column(Text, default="")
    flagged: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
