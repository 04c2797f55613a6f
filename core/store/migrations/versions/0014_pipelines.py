"""Pipelines (visual designer): saved pipelines, their instances, custom loss/metric functions.

Revision ID: 0014_pipelines
Revises: 0013_images
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0014_pipelines"
down_revision = "0013_images"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("classification", sa.String(64)),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("published", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user", "name", name="uq_pipelines_user_name"),
    )
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False, unique=True),
        sa.Column("user", sa.String(64), nullable=False, index=True),
        sa.Column("pipeline_id", sa.Integer, index=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("job_id", sa.Integer),
        sa.Column("run_dir", sa.String(1024), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("resource_spec", sa.String(128)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "pipeline_functions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("has_params", sa.Boolean, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user", "kind", "name", name="uq_pipeline_functions"),
    )


def downgrade() -> None:
    op.drop_table("pipeline_functions")
    op.drop_table("pipeline_runs")
    op.drop_table("pipelines")
