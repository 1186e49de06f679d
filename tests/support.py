"""Test helpers: factories and a chat driver that talks to the real service and database."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from bot.core.domain import ContactRef, InboundMessage, Platform, Reply
from bot.core.payloads import Replies, text_of
from bot.core.ports import OutboxItem, Outcome, SendResult
from bot.services import admin, delivery, inbox
from storage.db import Database
from storage.inbox_writer import InboxWriter
from tests.factories import link_accounts, make_facility, make_member, make_staff

TOKYO = ZoneInfo("Asia/Tokyo")

__all__ = ["link_accounts", "make_facility", "make_member", "make_staff"]  # the factories


def jst(day: str, hhmm: str) -> datetime:
    """An instant given as a Tokyo date and time, in UTC."""
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=TOKYO).astimezone(UTC)


@dataclass
class Recorder:
    """A sender that records what it was asked to send and always succeeds."""

    items: list[OutboxItem] = field(default_factory=list)

    async def send(self, item: OutboxItem, now: datetime) -> SendResult:
        self.items.append(item)
        return SendResult(Outcome.SENT, via="test")

    def replies_to(self, recipient: str) -> list[Reply]:
        out = []
        for item in self.items:
            if item.recipient == recipient and isinstance(item.payload, Replies):
                out.extend(item.payload.replies)
        return out

    def staff_texts(self) -> list[str]:
        return [text_of(i.payload) for i in self.items if i.platform == "slack"]


async def link_code(db: Database, member_id: int, now: datetime) -> str:
    async with db.transaction() as session:
        from storage.models import Member

        member = await session.get_one(Member, member_id)
        return await admin.issue_link_code(session, member, now)


class Chat:
    """Drives whole conversations: `await chat.say("u1", "開始 体調4", at)` returns the replies."""

    def __init__(self, db: Database, platform: Platform = Platform.CONSOLE) -> None:
        self.db = db
        self.platform = platform
        self.recorder = Recorder()
        self._ids = itertools.count(1)

    async def send(
        self,
        user: str,
        at: datetime,
        *,
        text: str = "",
        choice: str | None = None,
        event_id: str | None = None,
    ) -> bool:
        msg = InboundMessage(
            event_id=event_id or f"ev-{next(self._ids)}",
            sender=ContactRef(self.platform, user),
            sent_at=at,
            text=text,
            choice=choice,
        )
        async with self.db.transaction() as session:
            return await inbox.receive(session, msg, at)

    async def say(self, user: str, text: str, at: datetime) -> list[Reply]:
        return await self._exchange(user, at, text=text)

    async def tap(self, user: str, choice: str, at: datetime) -> list[Reply]:
        return await self._exchange(user, at, choice=choice)

    async def _exchange(self, user: str, at: datetime, **kw: Any) -> list[Reply]:
        before = len(self.recorder.replies_to(user))
        await self.send(user, at, **kw)
        await delivery.flush(
            self.db, {self.platform.value: self.recorder, "slack": self.recorder}, at
        )
        return self.recorder.replies_to(user)[before:]

    async def link(self, user: str, member_id: int, at: datetime) -> list[Reply]:
        code = await link_code(self.db, member_id, at)
        return await self.say(user, code, at)


# --- counting statements ------------------------------------------------------------------


def runs(params: Any, many: bool) -> int:
    """How many times the database runs a statement (`before_cursor_execute`'s parameters):
    once a parameter set for an executemany, once for one multi-row statement (whose
    parameters are one flat set)."""
    flat = not isinstance(params, list | tuple) or not params
    return len(params) if many and not flat and isinstance(params[0], tuple | list | dict) else 1


# --- the CLI (with the `cli_env` fixture from conftest.py) ----------------------------------


def run_cli(*args: str) -> str:
    """Run `nippo ARGS…` and return its output; a non-zero exit fails the test."""
    from bot.cli.main import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


async def keep_storing(writer: InboxWriter, seconds: float) -> None:
    """Webhook requests one after another for `seconds`, as in a busy morning: each waits for
    its commit, the next comes at once (bodies are empty objects)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    for n in itertools.count():
        if loop.time() >= until:
            return
        await writer.store([(f"burst-{n}", {})])


@dataclass
class FakeClock:
    """The tests' one clock: calling it gives `at`; a test moves time by setting `at`."""

    at: datetime

    def __call__(self) -> datetime:
        return self.at
