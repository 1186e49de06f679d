"""safety net: facility business hours and crisis contacts

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("business_hours", sa.JSON(), server_default="{}", nullable=False)
        )
        batch_op.add_column(
            sa.Column("crisis_contacts", sa.JSON(), server_default="[]", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.drop_column("crisis_contacts")
        batch_op.drop_column("business_hours")
