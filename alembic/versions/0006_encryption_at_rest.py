"""encryption at rest: the 日報's health numbers become text (they may hold ciphertext)

Every other encrypted column keeps its type: free text stays text, evidence bytes stay
binary and JSON stays JSON (an encrypted value is an envelope object, see
storage/encrypted.py). Existing values are kept as they are (plaintext, still readable);
`nippo data encrypt --apply` encrypts them.

Downgrading refuses while any value is encrypted: the older code cannot read it. Decrypt
first: move NIPPO_DATA_KEY to NIPPO_DATA_KEYS_OLD, unset it, run `nippo data encrypt --apply`.

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-15 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NUMBERS = {
    "health_start": sa.SmallInteger(),
    "sleep_hours": sa.Float(),
    "temperature": sa.Float(),
    "health_end": sa.SmallInteger(),
}
TEXTS = {
    "daily_report": [
        "health_start", "sleep_hours", "temperature", "planned_work", "work_done", "outputs",
        "health_end", "note", "absence_note",
    ],
    "report_revision": ["before", "after"],
    "support_record": ["content"],
    "alert": ["detail", "resolution"],
    "evaluation": [
        "goal", "activities", "achievement", "issues", "plan", "health_notes", "continuation",
    ],
}
JSONS = {"conversation": "state", "inbox_event": "body", "outbox_message": "payload"}


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for column in NUMBERS:
            op.execute(
                f"ALTER TABLE daily_report ALTER COLUMN {column} TYPE text USING {column}::text"
            )
        return
    with op.batch_alter_table("daily_report", schema=None) as batch_op:
        for column, old in NUMBERS.items():
            batch_op.alter_column(
                column, existing_type=old, type_=sa.Text(), existing_nullable=True
            )


def _encrypted_rows() -> int:
    pg = op.get_context().dialect.name == "postgresql"
    checks = [
        f"SELECT count(*) FROM {table} WHERE {column} LIKE 'enc:v1:%'"
        for table, columns in TEXTS.items()
        for column in columns
    ]
    cast = "::text" if pg else ""
    checks += [
        f"SELECT count(*) FROM {table} WHERE {column}{cast} LIKE '%\"nippo_enc\"%'"
        for table, column in JSONS.items()
    ]
    prefix = "'enc:v1:'::bytea" if pg else "CAST('enc:v1:' AS BLOB)"
    checks.append(f"SELECT count(*) FROM attachment WHERE substr(data, 1, 7) = {prefix}")
    bind = op.get_bind()
    return sum(int(bind.execute(sa.text(sql)).scalar_one()) for sql in checks)


def downgrade() -> None:
    if _encrypted_rows():
        raise RuntimeError(
            "encrypted values are stored: decrypt them first (move NIPPO_DATA_KEY to "
            "NIPPO_DATA_KEYS_OLD, unset it, run `nippo data encrypt --apply`)"
        )
    if op.get_context().dialect.name == "postgresql":
        for column, old in NUMBERS.items():
            kind = "smallint" if isinstance(old, sa.SmallInteger) else "double precision"
            op.execute(
                f"ALTER TABLE daily_report ALTER COLUMN {column} TYPE {kind}"
                f" USING {column}::{kind}"
            )
        return
    with op.batch_alter_table("daily_report", schema=None) as batch_op:
        for column, old in NUMBERS.items():
            batch_op.alter_column(
                column, existing_type=sa.Text(), type_=old, existing_nullable=True
            )
