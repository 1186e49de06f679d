"""records as evidence: who entered each record and when, 事後記録, 修正理由, consent, the
audit hash chain, and the member facts the municipal rules need

Existing 支援記録 rows take their own moment as the moment they were entered and the bot (or
the staff member named on them) as who entered them: that is how they were written.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models
from storage.encrypted import EncryptedJSON, EncryptedText

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = storage.models.UTCDateTime(timezone=True)


REFERENCED = {
    "facility": ["late_entry_grace_hours", "office_no"],
    "member": [
        "approval_kind", "days_exception", "notice_submitted_on", "notice_accepted_on",
        "emergency_contacts",
    ],
    "daily_report": ["signoff_voided_at", "entered_by", "late"],
}  # fmt: skip


def _late() -> sa.Column[bool]:
    return sa.Column("late", sa.Boolean(), server_default="0", nullable=False)


def _flags() -> sa.Column[dict[str, object]]:
    return sa.Column("flags", sa.JSON(), server_default="{}", nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("facility") as b:
        b.add_column(
            sa.Column("late_entry_grace_hours", sa.Integer(), server_default="24", nullable=False)
        )
        b.add_column(sa.Column("office_no", sa.String(length=20), nullable=True))
    with op.batch_alter_table("member") as b:
        b.add_column(sa.Column("approval_kind", sa.String(length=16), nullable=True))
        b.add_column(sa.Column("days_exception", EncryptedText(), nullable=True))
        b.add_column(sa.Column("notice_submitted_on", sa.Date(), nullable=True))
        b.add_column(sa.Column("notice_accepted_on", sa.Date(), nullable=True))
        b.add_column(sa.Column("emergency_contacts", EncryptedJSON(), nullable=True))
    with op.batch_alter_table("daily_report") as b:
        b.add_column(sa.Column("signoff_voided_at", UTC, nullable=True))
        b.add_column(
            sa.Column("entered_by", sa.String(length=32), server_default="bot", nullable=False)
        )
        b.add_column(_late())
    with op.batch_alter_table("report_revision") as b:
        b.add_column(sa.Column("reason", EncryptedText(), nullable=True))
        b.add_column(_late())
    with op.batch_alter_table("support_record") as b:
        b.add_column(sa.Column("entered_at", UTC, nullable=True))
        b.add_column(sa.Column("entered_by", sa.String(length=32), nullable=True))
        b.add_column(_late())
        b.add_column(_flags())
    op.execute("UPDATE support_record SET entered_at = at")
    op.execute(
        "UPDATE support_record SET entered_by = CASE WHEN staff_id IS NULL THEN 'bot' "
        "ELSE 'staff:' || CAST(staff_id AS VARCHAR) END"
    )
    with op.batch_alter_table("support_record") as b:
        b.alter_column("entered_at", existing_type=UTC, nullable=False)
        b.alter_column("entered_by", existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table("evaluation") as b:
        b.add_column(
            sa.Column("entered_by", sa.String(length=32), server_default="bot", nullable=False)
        )
        b.add_column(_late())
        b.add_column(_flags())
    op.execute(
        "UPDATE evaluation SET entered_by = 'staff:' || CAST(staff_id AS VARCHAR) "
        "WHERE staff_id IS NOT NULL"
    )
    if op.get_context().dialect.name == "postgresql":  # SQLite's INTEGER is 64-bit already
        op.execute("ALTER TABLE audit_log ALTER COLUMN id TYPE BIGINT")
        op.execute("ALTER SEQUENCE IF EXISTS audit_log_id_seq AS BIGINT")
    with op.batch_alter_table("audit_log") as b:
        b.add_column(sa.Column("seq", storage.models.BIG_ID, nullable=True))
        b.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        b.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        b.create_unique_constraint(b.f("uq_audit_log_seq"), ["seq"])
    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("covers", sa.JSON(), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn_on", sa.Date(), nullable=True),
        sa.Column("entered_at", UTC, nullable=False),
        sa.Column("entered_by", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_consent_member_id_member")
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_consent_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
    )
    op.create_index(op.f("ix_consent_member_id"), "consent", ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_consent_member_id"), table_name="consent")
    op.drop_table("consent")
    with op.batch_alter_table("audit_log") as b:
        b.drop_constraint(b.f("uq_audit_log_seq"), type_="unique")
        b.drop_column("hash")
        b.drop_column("prev_hash")
        b.drop_column("seq")
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER SEQUENCE IF EXISTS audit_log_id_seq AS INTEGER")
        op.execute("ALTER TABLE audit_log ALTER COLUMN id TYPE INTEGER")
    with op.batch_alter_table("evaluation") as b:
        b.drop_column("flags")
        b.drop_column("late")
        b.drop_column("entered_by")
    with op.batch_alter_table("support_record") as b:
        b.drop_column("flags")
        b.drop_column("late")
        b.drop_column("entered_by")
        b.drop_column("entered_at")
    with op.batch_alter_table("report_revision") as b:
        b.drop_column("late")
        b.drop_column("reason")
    # Tables other rows point at are altered in place, not rebuilt (SQLite ≥ 3.35 drops a
    # plain column itself; a batch rebuild would drop a table that foreign keys reference).
    for table, columns in REFERENCED.items():
        for column in reversed(columns):
            op.drop_column(table, column)
