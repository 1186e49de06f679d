"""`nippo deliver` flushes the outbox once with the configured senders."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli.main import app
from bot.core.domain import Reply
from bot.core.payloads import Replies
from storage import db as storage_db
from storage import repo
from storage.db import Database
from storage.models import OutboxMessage
from tests.factories import identity
from tests.line.fake_api import FakeLine, FakeLineThread
from tests.support import make_facility, make_member

runner = CliRunner()


async def _prepare(url: str) -> None:
    db = Database(url)
    now = datetime.now(UTC)
    try:
        fid = await make_facility(db, now)
        mid = await make_member(db, fid, now)
        async with db.transaction() as s:
            s.add(identity("U1", now, member_id=mid))
            await repo.enqueue(
                s,
                key="remind:start:1",
                platform="line",
                recipient="U1",
                payload=Replies((Reply("おはようございます"),)),
                now=now,
                member_id=mid,
            )
    finally:
        await db.dispose()


async def _status(url: str) -> tuple[str, str | None]:
    db = Database(url)
    try:
        async with db.transaction() as s:
            row = (await s.execute(select(OutboxMessage))).scalar_one()
            return row.status, row.via
    finally:
        await db.dispose()


def test_deliver_pushes_due_messages_through_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    storage_db.upgrade(url)
    asyncio.run(_prepare(url))

    result = runner.invoke(app, ["deliver"])
    assert result.exit_code == 0 and "nothing to deliver" in result.output
    assert asyncio.run(_status(url)) == ("pending", None)

    with FakeLineThread(FakeLine()) as fake:
        monkeypatch.setenv("LINE_CHANNEL_SECRET", "s")
        monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", "t")
        monkeypatch.setenv("LINE_API_BASE_URL", fake.url)
        monkeypatch.setenv("LINE_DATA_API_BASE_URL", fake.url)
        result = runner.invoke(app, ["deliver"])
        assert result.exit_code == 0, result.output
        assert "sent 1, retrying 0, failed 0" in result.output
        assert [b["to"] for _, b in fake.shown] == ["U1"]
    assert asyncio.run(_status(url)) == ("sent", "push")
