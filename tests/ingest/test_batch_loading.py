"""Issue #18: an inbox batch reads what its events need set-based, not event by event.

The statements of a pass are counted on the engine: ten members' check-ins in one batch take
far fewer than ten times one member's, and a batch in which nothing fails takes no savepoint
per event (it runs again with them only when an event raises). What the batch reads must not
change what anyone is told: a month question still lists the worked days (loaded only for
it), and a member's second event in the same batch sees what the first one wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.core import dialog, texts
from bot.core.domain import ContactRef, InboundMessage, Platform
from bot.services import checkin
from storage.db import Database
from storage.models import (
    DailyReport,
    InboxEvent,
    OutboxMessage,
    ReportRevision,
    SupportRecord,
)
from tests.faults.webhooks import link_members
from tests.line.conftest import Line, event, process_pending_inbox
from tests.line.test_metrics import moved, scrape
from tests.support import jst, runs

START = "開始 体調4 睡眠7 データ入力"
LEASE = re.compile(r"UPDATE outbox_message SET status=\S+, next_attempt_at=[^,]+ WHERE")


class Counted:
    def __init__(self) -> None:
        self.n = 0
        self.savepoints = 0
        self.sent_updates = 0  # statements marking outbox rows sent (one executemany: one)
        self.claims = 0  # delivery's claims of due outbox rows
        self.audit_inserts = 0  # statements writing audit entries …
        self.audit_runs = 0  # … and the INSERTs the database runs for them (executemany: one a row)
        self.lease_runs = 0  # UPDATEs the database runs to lease claimed outbox rows
        self.outbox_inserts = 0  # statements inserting outbox rows

    def __call__(
        self, _conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool
    ) -> None:
        self.n += 1
        if statement.startswith("INSERT INTO audit_log"):
            self.audit_inserts += 1
            self.audit_runs += runs(params, many)
        if LEASE.match(statement):
            self.lease_runs += runs(params, many)
        self.savepoints += statement.startswith("SAVEPOINT")
        self.outbox_inserts += statement.startswith("INSERT INTO outbox_message")
        self.sent_updates += statement.startswith("UPDATE outbox_message SET reply_token")
        self.claims += "outbox_message AS outbox_message_1" in statement


@pytest.fixture
def statements() -> Iterator[Counted]:
    counted = Counted()
    sa_event.listen(Engine, "before_cursor_execute", counted)
    yield counted
    sa_event.remove(Engine, "before_cursor_execute", counted)


async def store(db: Database, events: list[dict[str, Any]], at: datetime) -> None:
    from storage import repo

    async with db.transaction() as s:
        for ev in events:
            assert await repo.add_inbox(s, "line", ev["webhookEventId"], ev, at) is not None


async def pass_statements(db: Database, statements: Counted, at: datetime) -> tuple[int, int]:
    before = statements.n
    handled = await process_pending_inbox(db, at)
    return handled, statements.n - before


async def test_a_batch_of_ten_members_takes_far_fewer_statements_than_ten_alone(
    db: Database, t0: datetime, statements: Counted
) -> None:
    users = await link_members(db, t0, "Ucount", 11)
    at = jst("2026-07-01", "09:55")
    await store(db, [event("00_message_text", at, user=users[0], message={"text": START})], at)
    handled, alone = await pass_statements(db, statements, at)
    assert handled == 1

    evs = [event("00_message_text", at, user=u, message={"text": START}) for u in users[1:]]
    await store(db, evs, at)
    handled, batch = await pass_statements(db, statements, at)

    assert handled == 10
    # One event at a time read ~11 rows for each (account, member, facility, 日報, plan,
    # conversation, …): a batch of ten cost ~0.9 × ten alone. Set-based it is about half.
    assert batch < 0.6 * 10 * alone, (batch, alone)
    async with db.transaction() as s:
        reports = (await s.scalars(select(DailyReport))).all()
        statuses = set((await s.scalars(select(InboxEvent.status))).all())
    assert len(reports) == 11 and all(r.planned_work == "データ入力" for r in reports)
    assert statuses == {"done"}


async def test_a_batch_without_failures_takes_no_savepoints_and_one_failure_keeps_nothing_of_it(
    line: Line, t0: datetime, statements: Counted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten members' check-ins in one batch: no SAVEPOINT (two statements an event). Then a
    batch in which the second member's handling writes everything and raises: the batch is
    run again with a savepoint per event; the others are written and answered once each,
    nothing of the second member's is kept, and its handling ran once in that drain."""
    users = await link_members(line.db, t0, "Uguard", 13)
    at = jst("2026-07-01", "09:55")
    before = statements.savepoints
    inserts, runs = statements.audit_inserts, statements.audit_runs
    await line.send(*[event("00_message_text", at, user=u, message={"text": START})
                      for u in users[:10]], at=at)  # fmt: skip
    assert statements.savepoints == before  # none for ten events handled together
    # The batch's audit entries (accounts, 日報, revisions: dozens) go in one multi-row
    # INSERT a transaction, not one INSERT each on the database.
    inserts, runs = statements.audit_inserts - inserts, statements.audit_runs - runs
    assert runs == inserts <= 3, (runs, inserts)

    real = checkin.handle_message
    calls: list[str] = []

    async def writes_then_fails(session: Any, msg: Any, now: datetime) -> Any:
        calls.append(msg.sender.user_id)
        await real(session, msg, now)
        if msg.sender.user_id == users[11]:
            raise RuntimeError("injected: after writing")

    monkeypatch.setattr(checkin, "handle_message", writes_then_fails)
    evs = [event("00_message_text", at, user=u, message={"text": START}) for u in users[10:]]
    before = statements.savepoints
    await line.send(*evs, at=at)

    assert statements.savepoints > before  # the run again, one savepoint an event
    assert calls.count(users[11]) == 1
    async with line.db.transaction() as s:
        reports = (await s.scalars(select(DailyReport))).all()
        revisions = (await s.scalars(select(ReportRevision.report_id))).all()
        replies = set((await s.scalars(select(OutboxMessage.key))).all())
    assert len(reports) == 12  # not the second member's
    assert all(revisions.count(r.id) == revisions.count(reports[0].id) for r in reports)
    assert f"reply:line:{evs[1]['webhookEventId']}" not in replies
    answered = {r.body["replyToken"] for r in line.fake.calls("/v2/bot/message/reply")}
    assert {evs[0]["replyToken"], evs[2]["replyToken"]} <= answered
    assert evs[1]["replyToken"] not in answered
    async with line.db.transaction() as s:
        failed = await s.scalar(
            select(InboxEvent).where(InboxEvent.event_id == evs[1]["webhookEventId"])
        )
    assert failed is not None
    assert (failed.status, failed.attempts) == ("pending", 1)


async def test_a_batchs_replies_are_written_in_one_insert(
    line: Line, t0: datetime, statements: Counted
) -> None:
    """Ten members' check-ins in one batch: their ten replies go into the outbox in one
    multi-row INSERT at the batch's end, not one INSERT a reply, and every member is
    answered with their own reply token."""
    users = await link_members(line.db, t0, "Uwrite", 10)
    at = jst("2026-07-01", "09:55")
    evs = [event("00_message_text", at, user=u, message={"text": START}) for u in users]
    before = statements.outbox_inserts
    await line.send(*evs, at=at)

    assert statements.outbox_inserts - before == 1
    answered = [r.body["replyToken"] for r in line.fake.calls("/v2/bot/message/reply")]
    assert sorted(answered) == sorted(e["replyToken"] for e in evs)


async def test_a_members_write_that_fails_at_the_batchs_flush_blames_no_other_member(
    line: Line, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member's last event in a batch is not flushed on its own, so the database refuses
    its writes only during the next member's event. That member is not blamed: the batch runs
    again with a savepoint per event, the next member is answered in the same drain with no
    failure counted, and only the member whose write was refused waits (one attempt counted)
    and is answered by the next drain."""
    users = await link_members(line.db, t0, "Ublame", 3)
    at = jst("2026-07-01", "09:55")
    real = checkin.handle_message

    async def leaves_a_bad_row(session: Any, msg: Any, now: datetime) -> Any:
        await real(session, msg, now)
        if msg.sender.user_id == users[1]:  # NOT NULL columns left empty: refused at flush
            session.add(SupportRecord(member_id=None, kind="contact", channel="line"))

    monkeypatch.setattr(checkin, "handle_message", leaves_a_bad_row)
    evs = [event("00_message_text", at, user=u, message={"text": START}) for u in users]
    await line.send(*evs, at=at)

    answered = {r.body["replyToken"] for r in line.fake.calls("/v2/bot/message/reply")}
    assert answered == {evs[0]["replyToken"], evs[2]["replyToken"]}
    async with line.db.transaction() as s:
        rows = {
            r.event_id: (r.status, r.attempts) for r in (await s.scalars(select(InboxEvent))).all()
        }
    assert rows[evs[2]["webhookEventId"]] == ("done", 1)  # not counted as a failure
    assert rows[evs[1]["webhookEventId"]] == ("pending", 1)

    monkeypatch.setattr(checkin, "handle_message", real)
    line.app.state.line_worker.poke()  # the next drain (a webhook, the scheduler's pass)
    await line.app.state.line_worker.settled()
    answered = {r.body["replyToken"] for r in line.fake.calls("/v2/bot/message/reply")}
    assert evs[1]["replyToken"] in answered


async def test_a_round_of_replies_is_recorded_together_and_each_ones_time_observed(
    line: Line, t0: datetime, statements: Counted
) -> None:
    """Ten members answered from one batch: the rows are leased in one UPDATE and marked
    sent in two statements (the round's first row is recorded alone, the rest in one
    executemany), not one each; the handling time of every reply is observed (one query for
    the round, not one a reply); and the reply worker stops once a claim finds nothing due
    (rows committed later come with their own poke) rather than flushing again after every
    flush that sent something."""
    users = await link_members(line.db, t0, "Uround", 10)
    at = jst("2026-07-01", "09:55")
    before = await scrape(line.client)
    await line.send(*[event("00_message_text", at, user=u, message={"text": START})
                      for u in users], at=at)  # fmt: skip
    after = await scrape(line.client)

    assert len(line.fake.calls("/v2/bot/message/reply")) == 10
    assert statements.sent_updates == 2
    assert statements.claims == 2  # the batch's replies, then nothing left
    assert statements.lease_runs == 1  # the ten rows leased in one UPDATE, not one a row
    assert moved(before, after, "nippo_handling_seconds_count", platform="line", via="reply") == 10


async def test_a_month_question_in_a_batch_still_lists_the_worked_days(
    line: Line, t0: datetime
) -> None:
    users = await link_members(line.db, t0, "Umonth", 3)
    day1 = jst("2026-07-01", "09:55")
    await line.send(event("00_message_text", day1, user=users[0], message={"text": START}), at=day1)
    day2 = jst("2026-07-02", "10:05")
    asks = event("00_message_text", day2, user=users[0], message={"text": "今月の記録"})
    others = [event("00_message_text", day2, user=u, message={"text": START}) for u in users[1:]]
    await line.send(*others, asks, at=day2)

    answer = [
        r.body for r in line.fake.calls("/v2/bot/message/reply")
        if r.body["replyToken"] == asks["replyToken"]
    ]  # fmt: skip
    said = [m.get("text", "") for m in answer[0]["messages"]]
    assert texts.MEMBER_MONTH_DAYS.format(month=7, days=1) in said


async def test_a_members_second_event_in_the_batch_sees_the_first(line: Line, t0: datetime) -> None:
    (user,) = await link_members(line.db, t0, "Utwice", 1)
    at = jst("2026-07-01", "09:55")
    first = event("00_message_text", at, user=user, message={"text": START})
    second = event("00_message_text", at, user=user, message={"text": "今日の記録"})
    await line.send(first, second, at=at)

    async with line.db.transaction() as s:
        report = (await s.scalars(select(DailyReport))).one()
        statuses = (await s.scalars(select(InboxEvent.status))).all()
    assert report.planned_work == "データ入力" and list(statuses) == ["done", "done"]
    summary = [
        r.body for r in line.fake.calls("/v2/bot/message/reply")
        if r.body["replyToken"] == second["replyToken"]
    ]  # fmt: skip
    assert "データ入力" in str(summary[0])  # today's record, with what the first one wrote


def test_only_a_month_question_asks_for_the_months_days() -> None:
    def said(text: str = "", choice: str | None = None) -> InboundMessage:
        return InboundMessage(
            "e1", ContactRef(Platform.LINE, "U1"), jst("2026-07-01", "10:00"), text, choice
        )

    assert dialog.asks_month(said(choice="month"))
    assert dialog.asks_month(said("今月の記録を見せて"))
    assert dialog.asks_month(said("こんげつのきろく"))
    assert not dialog.asks_month(said(START))
    assert not dialog.asks_month(said("今日の記録"))
    assert not dialog.asks_month(said("今月の記録", choice="start"))
