"""Issue #18: the after-ack worker drains the inbox, whoever acknowledged the events.

Rows stored by "another process" (inserted straight into inbox_event, as a replica's or a dead
process's webhook would have) are all handled after one poke, with no scheduler tick, and
every member is answered at the fake LINE API with their reply token. A failing event is
tried once per drain (never in a tight loop), and its sender's later events wait behind it.
A batch in which one member's event raises is handled for the others. A batch's replies go
out as soon as it commits, not after the rest of the pass.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.services import checkin, inbox
from scheduler.runner import Runner
from storage import repo
from storage.models import InboxEvent, OutboxMessage
from tests.faults.webhooks import link_members
from tests.line.conftest import Line, event
from tests.line.test_metrics import moved, scrape
from tests.support import jst

DAY = "2026-07-01"
START = "開始 体調4 睡眠7 データ入力"


async def store_elsewhere(line: Line, events: list[dict[str, Any]], at: datetime) -> None:
    """What another process's webhook leaves behind: pending rows, and no poke here."""
    async with line.db.transaction() as s:
        for ev in events:
            assert await repo.add_inbox(s, "line", ev["webhookEventId"], ev, at) is not None


async def rows(line: Line) -> dict[str, InboxEvent]:
    async with line.db.transaction() as s:
        return {r.event_id: r for r in (await s.scalars(select(InboxEvent))).all()}


async def poke_once(line: Line) -> None:
    line.app.state.line_worker.poke()
    await line.app.state.line_worker.settled()


def replied_tokens(line: Line) -> set[str]:
    return {str(r.body["replyToken"]) for r in line.fake.calls("/v2/bot/message/reply")}


async def test_one_poke_drains_rows_stored_by_another_process(line: Line, t0: datetime) -> None:
    """More than two batches, a broken event first: today's worker stopped after the first
    short batch and left the rest to the scheduler's 100-a-minute recovery."""
    users = await link_members(line.db, t0, "Udrain", 60)
    at = jst(DAY, "09:55")
    line.clock.at = at
    broken = {**event("00_message_text", at, user=users[0], message={"text": START})}
    broken["message"] = "not an object"  # signed and stored, yet unreadable
    good = [
        event("00_message_text", at, user=users[i % len(users)], message={"text": START})
        for i in range(1, 2 * inbox.BATCH + 51)
    ]
    await store_elsewhere(line, [broken, *good], at)

    await poke_once(line)

    found = await rows(line)
    assert all(found[ev["webhookEventId"]].status == "done" for ev in good)
    assert replied_tokens(line) == {ev["replyToken"] for ev in good}
    # The broken row was tried once in this drain, not spun on until quarantined.
    assert (found[broken["webhookEventId"]].status, found[broken["webhookEventId"]].attempts) == (
        "pending",
        1,
    )


async def test_a_drain_does_not_spin_on_a_failing_senders_events(
    line: Line, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = await link_members(line.db, t0, "Uspin", 3)
    real = checkin.handle_message
    calls: list[str] = []

    async def failing_for_one(session: Any, msg: Any, now: datetime) -> Any:
        calls.append(msg.sender.user_id)
        if msg.sender.user_id == users[0]:
            raise RuntimeError("injected: this member's handling fails")
        return await real(session, msg, now)

    monkeypatch.setattr(checkin, "handle_message", failing_for_one)
    at = jst(DAY, "09:55")
    line.clock.at = at
    theirs = [event("00_message_text", at, user=users[0], message={"text": START})]
    theirs.append(event("00_message_text", at, user=users[0], message={"text": "こんにちは"}))
    others = [event("00_message_text", at, user=u, message={"text": START}) for u in users[1:]]
    await store_elsewhere(line, [*theirs, *others], at)

    await poke_once(line)

    found = await rows(line)
    assert calls.count(users[0]) == 1  # tried once in the drain
    first, second = (found[ev["webhookEventId"]] for ev in theirs)
    assert (first.status, first.attempts) == ("pending", 1)
    assert (second.status, second.attempts) == ("pending", 0)  # waits behind the first
    assert all(found[ev["webhookEventId"]].status == "done" for ev in others)
    assert replied_tokens(line) == {ev["replyToken"] for ev in others}


async def test_a_batch_whose_third_members_event_raises(
    line: Line, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch of five members' events; the third member's raises once. The other four
    are handled and answered in that pass; the third is retried by the next (the scheduler's
    recovery here) and answered then, by push: its reply token's minute has passed."""
    users = await link_members(line.db, t0, "Ubatch", 5)
    real = checkin.handle_message
    failures = iter([RuntimeError("injected: database hiccup")])

    async def third_fails_once(session: Any, msg: Any, now: datetime) -> Any:
        if msg.sender.user_id == users[2]:
            exc = next(failures, None)
            if exc is not None:
                raise exc
        return await real(session, msg, now)

    monkeypatch.setattr(checkin, "handle_message", third_fails_once)
    at = jst(DAY, "09:55")
    line.clock.at = at
    evs = [event("00_message_text", at, user=u, message={"text": START}) for u in users]
    await line.send(*evs, at=at)

    found = await rows(line)
    third = found[evs[2]["webhookEventId"]]
    assert (third.status, third.attempts) == ("pending", 1)
    assert third.error == "RuntimeError: injected: database hiccup"
    assert [found[ev["webhookEventId"]].status for ev in evs] == ["done"] * 2 + ["pending"] + [
        "done"
    ] * 2
    assert replied_tokens(line) == {ev["replyToken"] for i, ev in enumerate(evs) if i != 2}
    async with line.db.transaction() as s:
        keys = set((await s.scalars(select(OutboxMessage.key))).all())
    assert f"reply:line:{evs[2]['webhookEventId']}" not in keys  # nothing of it was kept

    before = await scrape(line.client)
    later = jst(DAY, "09:57")
    line.clock.at = later
    runner = Runner(
        line.db,
        line.app.state.senders,
        inbox_passes=line.app.state.inbox_processors,
        clock=line.clock,
    )
    await runner.tick()
    await runner.deliver()
    assert (await rows(line))[evs[2]["webhookEventId"]].status == "done"
    pushed = [r.body for r in line.fake.calls("/v2/bot/message/push")]
    assert [b["to"] for b in pushed] == [users[2]]
    after = await scrape(line.client)
    pushes = {"platform": "line", "reason": "token_expired"}
    assert moved(before, after, "nippo_answers_pushed_total", **pushes) == 1


async def test_a_batchs_replies_go_out_before_the_pass_ends(
    line: Line, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three batches' worth of members in one pass. When the last batch is read, the first
    batch's members have heard back: before, every reply waited for the whole pass (up to
    inbox.BATCH events, seconds in a morning burst), and the last batch here waits in vain."""
    count = 2 * inbox.TXN_EVENTS + 5
    users = await link_members(line.db, t0, "Uearly", count)
    real = inbox._download
    seen: list[int] = []

    async def last_waits_for_replies(db: Any, platform: Any, ev: Any) -> inbox.Fetched:
        if ev is not None and ev.msg.sender.user_id == users[-1]:
            async with asyncio.timeout(5):  # longer than the whole pass takes here
                while len(replied_tokens(line)) < inbox.TXN_EVENTS:  # noqa: ASYNC110 (its thread)
                    await asyncio.sleep(0.01)
            seen.append(len(replied_tokens(line)))
        return await real(db, platform, ev)

    monkeypatch.setattr(inbox, "_download", last_waits_for_replies)
    at = jst(DAY, "09:55")
    line.clock.at = at
    evs = [event("00_message_text", at, user=u, message={"text": START}) for u in users]
    await store_elsewhere(line, evs, at)

    await poke_once(line)

    assert seen and seen[0] >= inbox.TXN_EVENTS  # the first batch was answered by then
    assert replied_tokens(line) == {ev["replyToken"] for ev in evs}
    assert line.fake.calls("/v2/bot/message/push") == []
