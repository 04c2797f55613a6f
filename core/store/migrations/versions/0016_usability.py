"""Usability: per-account preferences (the portal language, zh-CN or English).

Revision ID: 0016_usability
Revises: 0015_labeling
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0016_usability"
down_revision = "0015_labeling"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_prefs",
        sa.Column("user", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("user_prefs")
