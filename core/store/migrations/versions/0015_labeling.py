"""Labeling: tasks, sub-tasks, items (with their annotations) and review verdicts.

Revision ID: 0015_labeling
Revises: 0014_pipelines
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_labeling"
down_revision = "0014_pipelines"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "label_tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("dataset_id", sa.String(36), nullable=False),
        sa.Column("dataset_name", sa.String(64), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("root", sa.String(1024), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("pre_annotation", sa.String(1024)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("item_count", sa.Integer, nullable=False),
        sa.Column("subtask_size", sa.Integer),
        sa.Column("annotators", sa.JSON, nullable=False),
        sa.Column("review", sa.Boolean, nullable=False),
        sa.Column("reviewers", sa.JSON, nullable=False),
        sa.Column("policy", sa.String(16)),
        sa.Column("policy_value", sa.Integer),
        _ts("expires_at"), _ts("ended_at"),
        sa.Column("ended_by", sa.String(64)),
        _ts("created_at", False), _ts("updated_at", False),
        sa.UniqueConstraint("owner", "name", name="uq_label_tasks_owner_name"),
    )
    op.create_table(
        "label_subtasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(36), sa.ForeignKey("label_tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("annotator", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("item_count", sa.Integer, nullable=False),
        sa.Column("sample", sa.JSON, nullable=False),
        sa.Column("reviewed_by", sa.String(64)),
        sa.Column("verdict", sa.String(16)),
        sa.Column("comment", sa.Text),
        _ts("submitted_at"), _ts("reviewed_at"), _ts("updated_at", False),
        sa.UniqueConstraint("task_id", "number", name="uq_label_subtasks_task_number"),
    )
    op.create_index("ix_label_subtasks_annotator", "label_subtasks", ["annotator"])
    op.create_table(
        "label_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(36), sa.ForeignKey("label_tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subtask_id", sa.Integer),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        _ts("file_mtime"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.JSON),
        sa.Column("draft", sa.JSON),
        sa.Column("labeled_by", sa.String(64)),
        _ts("labeled_at"),
        sa.Column("lead_time", sa.Float, nullable=False),
        sa.Column("review_mark", sa.String(16)),
        sa.Column("review_comment", sa.Text),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_label_items_task_id", "label_items", ["task_id", "id"])
    op.create_index("ix_label_items_task_status", "label_items", ["task_id", "status", "id"])
    op.create_index("ix_label_items_task_subtask", "label_items", ["task_id", "subtask_id", "id"])
    op.create_index("ix_label_items_task_name", "label_items", ["task_id", "name"])
    op.create_index("ix_label_items_task_path", "label_items", ["task_id", "path"])
    op.create_table(
        "label_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(36), sa.ForeignKey("label_tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subtask_id", sa.Integer, nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("flagged", sa.JSON, nullable=False),
        _ts("created_at", False),
    )
    op.create_index("ix_label_reviews_task_id", "label_reviews", ["task_id"])


def downgrade() -> None:
    op.drop_table("label_reviews")
    op.drop_table("label_items")
    op.drop_table("label_subtasks")
    op.drop_table("label_tasks")
