"""Isolation (issue 13): server-side portal sessions, so that logging out and a password change end them.

Revision ID: 0009_isolation
Revises: 0008_portal2
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_isolation"
down_revision = "0008_portal2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_sessions",
        sa.Column("sid_hash", sa.String(64), primary_key=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_portal_sessions_user", "portal_sessions", ["user"])


def downgrade() -> None:
    op.drop_index("ix_portal_sessions_user", table_name="portal_sessions")
    op.drop_table("portal_sessions")
