"""Services: "My services" and their API keys.

Revision ID: 0007_services
Revises: 0005_datasets
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_services"
down_revision = "0005_datasets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alias", sa.String(160), nullable=False, unique=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("resource_spec", sa.String(128), nullable=False),
        sa.Column("image", sa.String(255)),
        sa.Column("shm_mb", sa.Integer),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("authorized", sa.JSON, nullable=False),
        sa.Column("classification", sa.String(64)),
        sa.Column("job_uuid", sa.String(36)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_services_user", "services", ["user"])
    op.create_table(
        "service_api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_service_api_keys_user", "service_api_keys", ["user"])


def downgrade() -> None:
    op.drop_index("ix_service_api_keys_user", table_name="service_api_keys")
    op.drop_table("service_api_keys")
    op.drop_index("ix_services_user", table_name="services")
    op.drop_table("services")
