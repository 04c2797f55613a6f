"""Container images: My images and shared images (issue 14).

Revision ID: 0013_images
Revises: 0012_models
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0013_images"
down_revision = "0012_models"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "container_images",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("reference", sa.String(512), nullable=False),
        sa.Column("runtime", sa.String(64), nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("frameworks", sa.JSON, nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("job_uuid", sa.String(36)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner", "name", name="uq_container_images_owner_name"),
    )
    op.create_index("ix_container_images_owner", "container_images", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_container_images_owner", "container_images")
    op.drop_table("container_images")
