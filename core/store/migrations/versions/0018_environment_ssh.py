"""SSH into development environments: the generated login and its sealed password per environment.

Revision ID: 0018_environment_ssh
Revises: 0017_environments
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_environment_ssh"
down_revision = "0017_environments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("environments") as t:
        t.add_column(sa.Column("ssh_login", sa.String(64)))
        t.add_column(sa.Column("ssh_secret", sa.Text))  # Fernet token of the password (site key)


def downgrade() -> None:
    with op.batch_alter_table("environments") as t:
        t.drop_column("ssh_secret")
        t.drop_column("ssh_login")
