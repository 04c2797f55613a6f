"""Datasets (spec 05): one row per dataset, secrets encrypted in their own column.

Revision ID: 0005_datasets
Revises: 0002_portal
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_datasets"
down_revision = "0002_portal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("area", sa.String(8), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("backend", sa.String(64), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("secrets", sa.Text),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("classification", sa.String(32)),
        sa.Column("share_group", sa.String(64)),
        sa.Column("share_users", sa.JSON, nullable=False),
        sa.Column("shared_from", sa.String(36)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner", "area", "name", name="uq_datasets_owner_area_name"),
    )
    op.create_index("ix_datasets_area_group", "datasets", ["area", "share_group"])


def downgrade() -> None:
    op.drop_index("ix_datasets_area_group", table_name="datasets")
    op.drop_table("datasets")
