"""Development environments: one row per environment, its service alias and pending changes.

Revision ID: 0017_environments
Revises: 0016_usability
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0017_environments"
down_revision = "0016_usability"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "environments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("values", sa.JSON, nullable=False),
        sa.Column("pending", sa.JSON),
        sa.Column("ssh", sa.Boolean, nullable=False),
        sa.Column("service_alias", sa.String(160)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user", "name", name="uq_environments_user_name"),
    )
    op.create_index("ix_environments_user", "environments", ["user"])


def downgrade() -> None:
    op.drop_index("ix_environments_user", "environments")
    op.drop_table("environments")
