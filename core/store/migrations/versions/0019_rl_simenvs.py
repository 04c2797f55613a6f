"""Simulation environments of reinforcement learning (spec 04 §1): one row per simulator.

Revision ID: 0019_rl_simenvs
Revises: 0018_environment_ssh
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0019_rl_simenvs"
down_revision = "0018_environment_ssh"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rl_simenvs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("install_mode", sa.String(16), nullable=False),
        sa.Column("classification", sa.String(32)),
        sa.Column("archive", sa.String(1024)),
        sa.Column("uploaded", sa.Boolean, nullable=False),
        sa.Column("start_file", sa.String(255)),
        sa.Column("start_member", sa.String(1024)),
        sa.Column("os", sa.String(16), nullable=False),
        sa.Column("python_builtin", sa.Boolean, nullable=False),
        sa.Column("start_path", sa.String(1024)),
        sa.Column("run_mode", sa.String(16), nullable=False),
        sa.Column("ports", sa.Integer),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name="uq_rl_simenvs_name"),
    )
    op.create_index("ix_rl_simenvs_owner", "rl_simenvs", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_rl_simenvs_owner", "rl_simenvs")
    op.drop_table("rl_simenvs")
