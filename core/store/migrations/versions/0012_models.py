"""Model registry: models, their versions, the services deployed from them, admin model tags.

Revision ID: 0012_models
Revises: 0009_isolation
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0012_models"
down_revision = "0009_isolation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("area", sa.String(8), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("model_dir", sa.String(1024), nullable=False),
        sa.Column("is_lora", sa.Boolean, nullable=False),
        sa.Column("base_model_id", sa.Integer),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("classification", sa.String(32)),
        sa.Column("mlflow_name", sa.String(300), nullable=False, unique=True),
        sa.Column("share_group", sa.String(64)),
        sa.Column("share_users", sa.JSON, nullable=False),
        sa.Column("shared_from", sa.Integer),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner", "area", "name", name="uq_models_owner_area_name"),
    )
    op.create_index("ix_models_area_group", "models", ["area", "share_group"])
    op.create_index("ix_models_owner_area_id", "models", ["owner", "area", "id"])
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("model_dir", sa.String(1024), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("format", sa.String(32)),
        sa.Column("source_run_id", sa.String(64)),
        sa.Column("source_job_uuid", sa.String(36)),
        sa.Column("converted_from", sa.Integer),
        sa.Column("conversion_job_uuid", sa.String(36)),
        sa.Column("mlflow_version", sa.String(32)),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("model_id", "number", name="uq_model_versions_model_number"),
    )
    op.create_table(
        "model_services",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("service_alias", sa.String(160), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_model_services_model_id", "model_services", ["model_id"])
    op.create_table(
        "model_tags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("category", "name", name="uq_model_tags_category_name"),
    )


def downgrade() -> None:
    op.drop_table("model_tags")
    op.drop_index("ix_model_services_model_id", table_name="model_services")
    op.drop_table("model_services")
    op.drop_table("model_versions")
    op.drop_index("ix_models_owner_area_id", table_name="models")
    op.drop_index("ix_models_area_group", table_name="models")
    op.drop_table("models")
