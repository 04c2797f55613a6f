"""Initial schema: jobs, resource specs, port allocations.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False, unique=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("framework", sa.String(64)),
        sa.Column("mode", sa.String(64), nullable=False),
        sa.Column("runtime", sa.String(64), nullable=False),
        sa.Column("image", sa.String(255)),
        sa.Column("scheduler", sa.String(64), nullable=False),
        sa.Column("scheduler_job_id", sa.String(64)),
        sa.Column("queue", sa.String(128)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("raw_state", sa.String(64)),
        sa.Column("reason", sa.Text),
        sa.Column("exit_code", sa.Integer),
        sa.Column("exec_hosts", sa.String(1024)),
        sa.Column("from_host", sa.String(255)),
        sa.Column("submit_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True)),
        sa.Column("end_time", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("job_dir", sa.String(1024), nullable=False),
        sa.Column("stdout_path", sa.String(1024)),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("plan", sa.JSON, nullable=False),
        sa.Column("script", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
    )
    op.create_index("ix_jobs_user_state", "jobs", ["user", "state"])
    op.create_index("ix_jobs_scheduler_state", "jobs", ["scheduler", "state"])
    op.create_table(
        "resource_specs",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("cpus", sa.Integer, nullable=False),
        sa.Column("mem_mb", sa.Integer),
        sa.Column("node_group", sa.String(255)),
        sa.Column("gpu_mode", sa.String(16)),
        sa.Column("gpu_type", sa.String(128)),
        sa.Column("gpus", sa.Integer, nullable=False),
        sa.Column("visible_users", sa.JSON, nullable=False),
        sa.Column("visible_groups", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
    )
    op.create_table(
        "port_allocations",
        sa.Column("port", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("job_uuid", sa.String(36), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_port_allocations_job_uuid", "port_allocations", ["job_uuid"])


def downgrade() -> None:
    op.drop_index("ix_port_allocations_job_uuid", table_name="port_allocations")
    op.drop_table("port_allocations")
    op.drop_table("resource_specs")
    op.drop_index("ix_jobs_scheduler_state", table_name="jobs")
    op.drop_index("ix_jobs_user_state", table_name="jobs")
    op.drop_table("jobs")
