"""One sender flooding the inbox (issue #23, medium): thousands of a stranger's messages went
ahead of a member's 「今日は休みます」 and 「相談したい」, which waited and became paid pushes.

A pass takes every sender's oldest waiting event first (round-robin), so a member's message
is in the first pass whatever waits before it; an account not linked to a member has only
its newest few waiting events answered, the older ones are kept, ignored, with a note.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.services.inbox import UNLINKED_BACKLOG, UNLINKED_FLOOD_NOTE
from bot.services.metrics import REGISTRY
from storage import repo
from storage.db import Database
from storage.models import InboxEvent, OutboxMessage
from tests.line.conftest import event, process_pending_inbox
from tests.support import jst, link_accounts, make_facility, make_member

DAY = "2026-07-01"
MEMBER = "Umember0000000000000000000000001"
STRANGER = "Ustranger000000000000000000000001"
FLOOD = 120  # more than one pass's window (5 × its limit of 10) ahead of the member


async def store(db: Database, evs: list[dict[str, object]], at: datetime) -> None:
    async with db.transaction() as s:
        for ev in evs:
            await repo.add_inbox(s, "line", str(ev["webhookEventId"]), dict(ev), at)


async def test_a_strangers_flood_neither_delays_a_member_nor_is_answered_in_full(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    await link_accounts(db, t0, [(mid, MEMBER)])
    at = jst(DAY, "09:40")
    flood = [
        event("00_message_text", at, user=STRANGER, message={"text": f"spam {n}"})
        for n in range(FLOOD)
    ]
    member = [
        event("00_message_text", at, user=MEMBER, message={"text": "今日は休みます"}),
        event("00_message_text", at, user=MEMBER, message={"text": "相談したい"}),
    ]
    await store(db, flood + member, at)  # the member's messages wait behind the whole flood
    ignored_before = REGISTRY.counters["nippo_inbox_flood_ignored_total"].get(
        (("platform", "line"),), 0.0
    )

    await process_pending_inbox(db, at, limit=10)  # one small pass

    async with db.transaction() as s:
        rows = {r.event_id: r for r in (await s.scalars(select(InboxEvent))).all()}
        outbox = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    assert [rows[e["webhookEventId"]].status for e in member] == ["done", "done"]
    member_replies = [o for o in outbox if o.recipient == MEMBER and o.key.startswith("reply:")]
    assert [o.key.rsplit(":", 1)[1] for o in member_replies] == [
        e["webhookEventId"] for e in member
    ]
    # The stranger: only its newest few waiting events are answered; the rest are kept.
    older, newest = flood[:-UNLINKED_BACKLOG], flood[-UNLINKED_BACKLOG:]
    assert {rows[e["webhookEventId"]].status for e in older} == {"ignored"}
    assert {rows[e["webhookEventId"]].error for e in older} == {UNLINKED_FLOOD_NOTE}
    assert {rows[e["webhookEventId"]].status for e in newest} <= {"done", "pending"}
    assert REGISTRY.counters["nippo_inbox_flood_ignored_total"][(("platform", "line"),)] == (
        ignored_before + len(older)
    )

    while await process_pending_inbox(db, at, limit=10):
        pass
    async with db.transaction() as s:
        to_stranger = (
            await s.scalars(select(OutboxMessage.id).where(OutboxMessage.recipient == STRANGER))
        ).all()
        statuses = set((await s.scalars(select(InboxEvent.status))).all())
    assert len(to_stranger) == UNLINKED_BACKLOG
    assert statuses == {"done", "ignored"}


async def test_a_linked_members_backlog_is_never_dropped(db: Database, t0: datetime) -> None:
    """After an outage a member may have many events waiting: every one is handled."""
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    await link_accounts(db, t0, [(mid, MEMBER)])
    at = jst(DAY, "09:40")
    evs = [
        event("00_message_text", at, user=MEMBER, message={"text": f"メモ {n}"})
        for n in range(UNLINKED_BACKLOG * 3)
    ]
    await store(db, evs, at)
    assert await process_pending_inbox(db, at) == len(evs)
    async with db.transaction() as s:
        assert set((await s.scalars(select(InboxEvent.status))).all()) == {"done"}
