"""Experiment ownership and sharing in the platform's store (issue 13 item 6), not in MLflow tags.

Revision ID: 0020_experiment_records
Revises: 0019_rl_simenvs
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0020_experiment_records"
down_revision = "0019_rl_simenvs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiment_records",
        sa.Column("experiment_id", sa.String(64), primary_key=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("owner", sa.String(64)),
        sa.Column("share_group", sa.String(64)),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("experiment_records")
