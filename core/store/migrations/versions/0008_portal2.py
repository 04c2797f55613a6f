"""Portal: log-in throttling, site settings (classification switch), account classification level.

Revision ID: 0008_portal2
Revises: 0007_services
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_portal2"
down_revision = "0007_services"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locks", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "site_settings",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("classification", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("classification")
    op.drop_table("site_settings")
    op.drop_table("login_failures")
