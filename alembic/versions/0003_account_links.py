"""account links: unlinked accounts keep their row, voided link codes, failed-code log

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_seen_at", storage.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("unlinked_at", storage.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("unlinked_reason", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("unlinked_member_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_identity_unlinked_member_id_member"),
            "member",
            ["unlinked_member_id"],
            ["id"],
        )
    with op.batch_alter_table("link_code", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("voided_at", storage.models.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "link_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identity.id"], name=op.f("fk_link_failure_identity_id_identity")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_failure")),
    )
    with op.batch_alter_table("link_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_failure_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("link_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_failure_at"))
    op.drop_table("link_failure")
    with op.batch_alter_table("link_code", schema=None) as batch_op:
        batch_op.drop_column("voided_at")
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_identity_unlinked_member_id_member"), type_="foreignkey"
        )
        batch_op.drop_column("unlinked_member_id")
        batch_op.drop_column("unlinked_reason")
        batch_op.drop_column("unlinked_at")
        batch_op.drop_column("last_seen_at")
