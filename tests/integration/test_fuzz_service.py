"""Whatever a member or a stranger sends, the service answers and never breaks."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.core import texts
from bot.core.domain import ContactRef, InboundMessage, Platform
from bot.services import inbox
from storage import repo
from storage.db import Database
from storage.models import OutboxMessage
from tests.support import Chat, jst, make_facility, make_member

WORDS = [
    "開始",
    "終了",
    "体調",
    "睡眠",
    "修正",
    "相談",
    "休みます",
    "4",
    "７",
    "時半",
    "\u0000",
    "<b>",
    "'; DROP TABLE member;--",
]
messages = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join),
    st.just("あ" * 10_000),
)
choices = st.one_of(
    st.none(),
    st.sampled_from(
        ["start", "end", "fix", "health:9", "sleep:x", "task:99", "fix:nope", "v9|bogus"]
    ),
    st.text(max_size=40),
)
_ids = itertools.count()


async def _linked_member(db: Database, t0: datetime) -> int:
    async with db.transaction() as s:
        found = await repo.identity_for(s, "console", "member")
    if found is not None and found.member_id is not None:
        return found.member_id
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    await Chat(db).link("member", mid, t0)
    return mid


async def _count(db: Database, model: type) -> int:
    async with db.transaction() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


@pytest.mark.slow
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(st.tuples(messages, choices), min_size=1, max_size=6))
async def test_members_and_strangers_always_get_an_answer(
    db: Database, t0: datetime, batch: list[tuple[str, str | None]]
) -> None:
    await _linked_member(db, t0)  # the database lives across examples: set up once
    at = jst("2026-07-01", "10:00")
    for i, (text, choice) in enumerate(batch):
        for user in ("member", "stranger"):
            msg = InboundMessage(
                f"fz-{next(_ids)}",
                ContactRef(Platform.CONSOLE, user),
                at + timedelta(seconds=i),
                text=text,
                choice=choice,
            )
            async with db.transaction() as session:
                assert await inbox.receive(session, msg, at)
            async with db.transaction() as session:
                out = (
                    await session.execute(
                        select(OutboxMessage).where(
                            OutboxMessage.key == f"reply:console:{msg.event_id}"
                        )
                    )
                ).scalar_one()
            replies = out.payload["replies"]
            assert replies and all(r["text"] for r in replies)
            if user == "stranger":
                assert [r["text"] for r in replies] in (
                    [texts.LINK_PROMPT],
                    [texts.LINK_WRONG],
                    [texts.LINK_LOCKED],
                )
