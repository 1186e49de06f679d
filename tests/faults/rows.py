"""Row counts of every table, to prove a refused request changed nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.db import Database
from storage.models import Base


async def all_counts(db: Database) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with db.transaction() as s:
        for table in Base.metadata.sorted_tables:
            stmt = select(func.count()).select_from(table)
            counts[table.name] = int((await s.execute(stmt)).scalar_one())
    return counts
