"""Migrations go up and down on both databases, and the models match them (no drift)."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from storage import db as storage_db
from storage.db import Database
from storage.models import Base


def _tables(url: str) -> set[str]:
    async def go() -> set[str]:
        database = Database(url)
        async with database.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        await database.dispose()
        return names

    return asyncio.run(go())


def _drift(url: str) -> list[object]:
    def compare(conn: Connection) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))

    async def go() -> list[object]:
        database = Database(url)
        async with database.engine.connect() as conn:
            diff = await conn.run_sync(compare)
        await database.dispose()
        return diff

    return asyncio.run(go())


def test_up_down_up_without_drift(db_url: str) -> None:
    expected = set(Base.metadata.tables)
    assert expected <= _tables(db_url)
    assert _drift(db_url) == []
    storage_db.downgrade(db_url, "base")
    assert _tables(db_url) & expected == set()
    storage_db.upgrade(db_url)
    assert expected <= _tables(db_url)
    assert _drift(db_url) == []
