"""Poison events (issue #23): one malformed signed LINE event must not stop anything else.

A correctly signed webhook may still carry an event without LINE's shape (a `timestamp`
that is not a number, a `userId` that is not a string, a message without its id …). Each
event is handled on its own: a bad one is counted on its inbox row, retried by the next
passes and then quarantined (status "failed", with a short error), while the good events of
the same request are answered and the minute tick's reminders still go out. A timestamp that
is implausibly old or in the future is not believed: the report time is the receipt time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

import bot.cli.inbox  # noqa: F401  (registers `nippo inbox` on the CLI)
from adapters.line.events import MalformedEvent, sent_at
from bot.core import texts
from bot.services import checkin, delivery
from bot.services.inbox import MAX_HANDLING_ATTEMPTS
from bot.services.metrics import REGISTRY
from scheduler.runner import Runner
from storage import repo
from storage.db import Database
from storage.models import DailyReport, InboxEvent, OutboxMessage
from tests.line.conftest import Line, event, process_pending_inbox
from tests.support import jst, link_accounts, make_facility, make_member, run_cli

DAY = "2026-07-01"
MEMBER = "Umember0000000000000000000000001"
SECRET_TEXT = "秘密の体調メモ"  # what a poison event says: it must not leak into rows or logs


def counter(name: str) -> float:
    return REGISTRY.counters[name].get((("platform", "line"),), 0.0)


def poison_events(at: datetime) -> dict[str, dict[str, Any]]:
    """Signed-but-broken events, by what is wrong with them (all text messages)."""

    def text_event(user: str = "Ustranger000000000000000000000001") -> dict[str, Any]:
        return event("00_message_text", at, user=user, message={"text": SECRET_TEXT})

    bad: dict[str, dict[str, Any]] = {}
    bad["timestamp abc"] = {**text_event(MEMBER), "timestamp": "abc"}  # the member's own
    bad["userId a number"] = text_event()
    bad["userId a number"]["source"]["userId"] = 12345
    bad["userId an object"] = text_event()
    bad["userId an object"]["source"]["userId"] = {"id": "U1"}
    bad["message without id"] = text_event()
    del bad["message without id"]["message"]["id"]
    bad["source a string"] = {**text_event(), "source": "user"}
    bad["message a string"] = {**text_event(), "message": SECRET_TEXT}
    return bad


async def linked_member(
    line: Line, t0: datetime, user: str = MEMBER, name: str = "山田 太郎"
) -> int:
    fid = await make_facility(line.db, t0, name=f"事業所 {user}")
    mid = await make_member(line.db, fid, t0, name=name, kana=None)  # plans 10:00–15:00
    await link_accounts(line.db, t0, [(mid, user)])
    return mid


def runner(line: Line) -> Runner:
    """The app's scheduler jobs on the test's clock (not started: the test calls tick)."""
    return Runner(
        line.db,
        line.app.state.senders,
        inbox_passes=line.app.state.inbox_processors,
        clock=line.clock,
    )


async def tick_at(line: Line, at: datetime) -> None:
    line.clock.at = at
    await runner(line).tick()
    await delivery.flush(line.db, line.app.state.senders, at)


async def inbox_rows(line: Line) -> dict[str, InboxEvent]:
    async with line.db.transaction() as s:
        rows = (await s.scalars(select(InboxEvent).order_by(InboxEvent.id))).all()
    return {r.event_id: r for r in rows}


def pushed_texts(line: Line, to: str) -> list[str]:
    return [
        m.get("text", "")
        for r in line.fake.calls("/v2/bot/message/push")
        if r.body["to"] == to
        for m in r.body["messages"]
    ]


def replied_texts(line: Line, token: str) -> list[str]:
    return [
        m.get("text", "")
        for r in line.fake.calls("/v2/bot/message/reply")
        if r.body["replyToken"] == token
        for m in r.body["messages"]
    ]


async def test_poison_events_leave_the_next_ticks_reminder_intact(line: Line, t0: datetime) -> None:
    await linked_member(line, t0)
    at = jst(DAY, "09:30")
    bad = poison_events(at)
    no_source = event("00_message_text", at, message={"text": "こんにちは"})
    del no_source["source"]  # LINE omits it on some events: stored and ignored
    good = event("00_message_text", at, user=MEMBER, message={"text": "こんにちは"})
    await line.send(*bad.values(), no_source, good, at=at)

    # The member's good message, sent after their own broken one, is answered at once.
    assert replied_texts(line, good["replyToken"]), "the good event was not answered"

    await tick_at(line, jst(DAY, "10:00"))  # the member's planned start
    morning = texts.MORNING.format(name="山田 太郎")
    assert pushed_texts(line, MEMBER) == [morning]
    rows = await inbox_rows(line)
    assert rows[good["webhookEventId"]].status == "done"
    assert rows[no_source["webhookEventId"]].status == "ignored"
    assert {rows[ev["webhookEventId"]].status for ev in bad.values()} == {"pending"}


async def test_a_poison_event_is_retried_then_quarantined_with_a_short_error(
    line: Line, t0: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await linked_member(line, t0)
    at = jst(DAY, "09:30")
    bad = poison_events(at)
    good = event("00_message_text", at, user=MEMBER, message={"text": "こんにちは"})
    quarantined_before = counter("nippo_inbox_quarantined_total")
    await line.send(*bad.values(), good, at=at)  # the pass after the acknowledgement: try 1

    for minute, attempts in ((0, 2), (1, 3), (2, 3), (3, 3)):  # the ticks' recovery passes
        await tick_at(line, jst(DAY, "10:00") + timedelta(minutes=minute))
        rows = await inbox_rows(line)
        for what, ev in bad.items():
            row = rows[ev["webhookEventId"]]
            assert row.attempts == attempts, what
            assert row.status == ("failed" if attempts == MAX_HANDLING_ATTEMPTS else "pending")
    assert MAX_HANDLING_ATTEMPTS == 3

    for what, ev in bad.items():
        row = rows[ev["webhookEventId"]]
        assert row.error is not None and row.error.startswith("MalformedEvent: "), what
        assert len(row.error) <= 200 and SECRET_TEXT not in row.error
        assert row.body == ev  # the raw event is kept for the operator
    assert rows[bad["timestamp abc"]["webhookEventId"]].error == (
        "MalformedEvent: timestamp is not a number"
    )
    assert rows[good["webhookEventId"]].status == "done"
    assert replied_texts(line, good["replyToken"])
    # Once quarantined, a row is never tried again; the tick went on every minute.
    assert await process_pending_inbox(line.db, jst(DAY, "10:05")) == 0
    assert pushed_texts(line, MEMBER) == [texts.MORNING.format(name="山田 太郎")]
    assert counter("nippo_inbox_quarantined_total") == quarantined_before + len(bad)
    assert SECRET_TEXT not in caplog.text  # logs carry ids only
    assert "LINE inbox event quarantined" in caplog.text


async def test_a_failing_event_holds_only_its_senders_later_events(
    line: Line, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handling failure (here injected once, as a database hiccup would) is retried by the
    next pass; that member's next event waits behind it (their order is kept), and another
    member's events in the same pass are handled at once."""
    await linked_member(line, t0)
    other = "Uother00000000000000000000000002"
    await linked_member(line, t0, other, name="佐藤 花子")
    real = checkin.handle_message
    failures = iter([RuntimeError("injected: database hiccup")])

    async def flaky(session: Any, msg: Any, now: datetime) -> Any:
        if msg.text == "開始 体調4 睡眠7 データ入力":
            exc = next(failures, None)
            if exc is not None:
                raise exc
        return await real(session, msg, now)

    monkeypatch.setattr(checkin, "handle_message", flaky)
    at = jst(DAY, "09:55")
    first = event(
        "00_message_text", at, user=MEMBER, message={"text": "開始 体調4 睡眠7 データ入力"}
    )
    second = event("00_message_text", at, user=MEMBER, message={"text": "こんにちは"})
    others = event("00_message_text", at, user=other, message={"text": "開始 体調4 睡眠7 入力"})
    await line.send(first, second, others, at=at)
    rows = await inbox_rows(line)
    assert (rows[first["webhookEventId"]].status, rows[first["webhookEventId"]].attempts) == (
        "pending",
        1,
    )
    assert rows[first["webhookEventId"]].error == "RuntimeError: injected: database hiccup"
    assert rows[second["webhookEventId"]].status == "pending"  # waits behind the first
    assert rows[second["webhookEventId"]].attempts == 0
    assert rows[others["webhookEventId"]].status == "done"

    await tick_at(line, jst(DAY, "09:56"))  # the recovery pass: both, in order
    rows = await inbox_rows(line)
    assert rows[first["webhookEventId"]].status == "done"
    assert rows[second["webhookEventId"]].status == "done"
    async with line.db.transaction() as s:
        started = (await s.scalars(select(DailyReport.status))).all()
        keys = (await s.scalars(select(OutboxMessage.key).order_by(OutboxMessage.id))).all()
    ids = (first["webhookEventId"], second["webhookEventId"])
    mine = [k.rsplit(":", 1)[1] for k in keys if k.rsplit(":", 1)[1] in ids]
    assert mine == list(ids)  # answered in the order they were sent
    assert sorted(started) == ["started", "started"]


async def test_a_failing_inbox_pass_never_skips_the_tick(line: Line, t0: datetime) -> None:
    await linked_member(line, t0)

    async def broken_pass(now: datetime, ids: list[int] | None) -> int:
        raise ConnectionError("inbox unreadable")

    start = jst(DAY, "10:00")
    line.clock.at = start
    summary = await Runner(
        line.db,
        line.app.state.senders,
        inbox_passes={"slack": broken_pass, **line.app.state.inbox_processors},
        clock=line.clock,
    ).tick()
    assert summary is not None and len(summary.reminders) == 1
    await delivery.flush(line.db, line.app.state.senders, start)
    assert pushed_texts(line, MEMBER) == [texts.MORNING.format(name="山田 太郎")]


async def test_implausible_timestamps_are_recorded_as_received(line: Line, t0: datetime) -> None:
    users = {
        "old": "Uold000000000000000000000000000001",
        "future": "Ufuture0000000000000000000000001",
        "normal": "Unormal0000000000000000000000001",
    }
    mids = {k: await linked_member(line, t0, u, name=f"利用者 {k}") for k, u in users.items()}
    received = jst(DAY, "10:05")
    claimed = {
        "old": received - timedelta(days=3),  # a captured event replayed days later
        "future": received + timedelta(hours=2),
        "normal": received - timedelta(minutes=2),  # a normal delay: the user's own time
    }
    replaced_before = counter("nippo_inbox_timestamps_replaced_total")
    evs = {
        k: event("00_message_text", claimed[k], user=users[k], message={"text": "開始 体調4"})
        for k in users
    }
    await line.send(*evs.values(), at=received)

    async with line.db.transaction() as s:
        reports = {r.member_id: r for r in (await s.scalars(select(DailyReport))).all()}
    rows = await inbox_rows(line)
    for k in ("old", "future"):
        report = reports[mids[k]]
        assert report.business_date.isoformat() == DAY, k
        assert report.start_at == received, k
        row = rows[evs[k]["webhookEventId"]]
        assert row.status == "done"
        assert row.error is not None and "recorded as received" in row.error
        assert row.body["timestamp"] == evs[k]["timestamp"]  # the raw event is kept as sent
    assert rows[evs["old"]["webhookEventId"]].error == (
        "timestamp 3 d before receipt: recorded as received"
    )
    assert reports[mids["normal"]].start_at == claimed["normal"]
    assert rows[evs["normal"]["webhookEventId"]].error is None
    assert counter("nippo_inbox_timestamps_replaced_total") == replaced_before + 2


def test_the_plausible_window_is_a_day_back_and_five_minutes_ahead() -> None:
    now = datetime(2026, 7, 1, 1, 5, tzinfo=UTC)

    def at(delta: timedelta) -> dict[str, Any]:
        return {"timestamp": int((now + delta).timestamp() * 1000)}

    day, five = timedelta(hours=24), timedelta(minutes=5)
    ms = timedelta(milliseconds=1)
    assert sent_at(at(-day), now) == (now - day, None)
    assert sent_at(at(five), now) == (now + five, None)
    assert sent_at(at(-day - ms), now)[0] == now
    assert sent_at(at(five + ms), now)[0] == now
    assert sent_at({}, now) == (now, "no timestamp: recorded as received")
    assert sent_at({"timestamp": 10**30}, now) == (
        now,
        "timestamp out of range: recorded as received",
    )
    for broken in ("abc", "1782867900000", True, [1], {"ms": 1}):
        with pytest.raises(MalformedEvent):
            sent_at({"timestamp": broken}, now)


def test_an_operator_lists_and_retries_quarantined_events(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = jst(DAY, "09:30")
    ev = {**event("00_message_text", at, message={"text": SECRET_TEXT}), "timestamp": "abc"}

    async def quarantine() -> int:
        db = Database(db_url)
        try:
            async with db.transaction() as s:
                row_id = await repo.add_inbox(s, "line", ev["webhookEventId"], ev, at)
            for _ in range(MAX_HANDLING_ATTEMPTS):
                await process_pending_inbox(db, at)
            return int(row_id or 0)
        finally:
            await db.dispose()

    async def row_state(row_id: int) -> tuple[str, int]:
        db = Database(db_url)
        try:
            async with db.transaction() as s:
                row = await s.get_one(InboxEvent, row_id)
                return row.status, row.attempts
        finally:
            await db.dispose()

    row_id = asyncio.run(quarantine())
    assert asyncio.run(row_state(row_id)) == ("failed", 3)
    monkeypatch.setenv("DATABASE_URL", db_url)
    listed = run_cli("inbox", "failed")
    assert f"{row_id}\tline\t{ev['webhookEventId']}\tattempts=3" in listed
    assert "MalformedEvent: timestamp is not a number" in listed
    assert SECRET_TEXT not in listed
    assert run_cli("inbox", "retry", str(row_id), "999999") == (
        f"pending again: {row_id}\nnot quarantined (left as they are): 999999\n"
    )
    assert asyncio.run(row_state(row_id)) == ("pending", 0)
