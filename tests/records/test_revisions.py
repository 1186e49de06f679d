"""日報 history: every change is a revision, the current value is the last one, and member and
staff edits made at the same moment both survive (two real sessions, on SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from itertools import pairwise

import pytest
from sqlalchemy import select

from bot.core.domain import ContactRef, InboundMessage, Platform
from bot.services import inbox, records
from bot.services.admin import add_staff
from bot.services.records import RecordsError
from storage.db import Database
from storage.models import DailyReport, Facility, ReportRevision
from tests.support import Chat, jst, make_facility, make_member

DAY = "2026-07-01"
WHY = "本人に電話で確認"


async def _setup(db: Database, t0: datetime) -> tuple[int, int, Chat, int]:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    async with db.transaction() as s:
        staff = await add_staff(
            s, await s.get_one(Facility, fid), name="鈴木 一郎", slack_user="U1", role="staff",
            now=t0,
        )  # fmt: skip
        sid = staff.id
    chat = Chat(db)
    await chat.link("u1", mid, jst(DAY, "09:00"))
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(DAY, "10:02"))
    async with db.transaction() as s:
        rid = (
            await s.execute(select(DailyReport.id).where(DailyReport.member_id == mid))
        ).scalar_one()
    return mid, sid, chat, rid


def _current_is_last_revision(history: records.ReportHistory) -> None:
    last: dict[str, str | None] = {}
    for r in history.revisions:
        last[r.field] = r.after
    for field, value in history.current.items():
        shown = value.isoformat() if isinstance(value, datetime) else value
        shown = None if shown is None else str(shown)
        assert last.get(field) == shown, field


async def test_staff_edits_and_sign_off_are_kept(db: Database, t0: datetime) -> None:
    mid, sid, chat, rid = await _setup(db, t0)
    async with db.transaction() as s:
        assert await records.staff_edit(
            s, rid, "start_at", "09:55", sid, jst(DAY, "16:00"), reason=WHY
        )
        assert await records.staff_edit(
            s, rid, "planned_work", "封入作業", sid, jst(DAY, "16:01"), reason=WHY
        )
        # the same value again is no change and leaves no revision
        assert not await records.staff_edit(
            s, rid, "planned_work", "封入作業", sid, jst(DAY, "16:02"), reason=WHY
        )
    # the member's end report comes before the sign-off (a later one would void it)
    await chat.say("u1", "終了 封入150枚 体調3", jst(DAY, "17:20"))
    async with db.transaction() as s:
        await records.sign_off(s, rid, sid, jst(DAY, "17:30"))

    async with db.transaction() as s:
        h = await records.report_history(s, mid, jst(DAY, "12:00").date())
    assert h is not None
    assert h.current["start_at"] == jst(DAY, "09:55")
    assert h.current["planned_work"] == "封入作業"
    assert (h.signed_off_by, h.signed_off_at) == ("鈴木 一郎", jst(DAY, "17:30"))
    staff_revs = [
        (r.field, r.before, r.after, r.by_name) for r in h.revisions if r.by == f"staff:{sid}"
    ]
    assert staff_revs == [
        ("start_at", jst(DAY, "10:02").isoformat(), jst(DAY, "09:55").isoformat(), "鈴木 一郎"),
        ("planned_work", "データ入力", "封入作業", "鈴木 一郎"),
        ("signed_off", None, f"staff:{sid}", "鈴木 一郎"),
    ]
    assert [r.at for r in h.revisions] == sorted(r.at for r in h.revisions)
    _current_is_last_revision(h)


async def test_staff_values_are_checked(db: Database, t0: datetime) -> None:
    _, sid, _, rid = await _setup(db, t0)
    async with db.transaction() as s:
        with pytest.raises(RecordsError, match="health_start"):
            await records.staff_edit(s, rid, "health_start", "7", sid, t0, reason=WHY)
        with pytest.raises(RecordsError, match="unknown field"):
            await records.staff_edit(s, rid, "mood", "good", sid, t0, reason=WHY)
        with pytest.raises(RecordsError, match="staff"):
            await records.staff_edit(s, rid, "note", "x", sid + 99, t0, reason=WHY)


async def test_concurrent_member_and_staff_edits_both_survive(db: Database, t0: datetime) -> None:
    """Staff hold the report while the member's end report arrives; neither change is lost and
    the member's revision starts from the staff's value."""
    mid, sid, chat, rid = await _setup(db, t0)
    staff_at, member_at = jst(DAY, "15:00"), jst(DAY, "15:00:30")

    async with db.transaction() as staff_session:
        await records.staff_edit(
            staff_session, rid, "outputs", "入力100件(職員確認)", sid, staff_at, reason=WHY
        )
        await records.staff_edit(
            staff_session, rid, "note", "午後は休憩多め", sid, staff_at, reason=WHY
        )
        member = asyncio.create_task(chat.say("u1", "終了 入力130件 体調3", member_at))
        for _ in range(20):  # the member's write waits for the staff transaction
            await asyncio.sleep(0.01)
        assert not member.done()
    await member

    async with db.transaction() as s:
        h = await records.report_history(s, mid, jst(DAY, "12:00").date())
        outputs = (
            await s.execute(
                select(ReportRevision.before, ReportRevision.after, ReportRevision.source)
                .where(ReportRevision.report_id == rid, ReportRevision.field == "outputs")
                .order_by(ReportRevision.id)
            )
        ).all()
    assert h is not None
    assert h.current["outputs"] == "入力130件" and h.current["note"] == "午後は休憩多め"
    assert h.current["health_end"] == 3 and h.status == "ended"
    assert [tuple(r) for r in outputs] == [
        (None, "入力100件(職員確認)", "staff_edit"),
        ("入力100件(職員確認)", "入力130件", "member"),
    ]
    _current_is_last_revision(h)


async def test_interleaved_edits_form_one_unbroken_chain(db: Database, t0: datetime) -> None:
    """Many member corrections (through the chat) and staff edits on the same fields: each
    revision starts where the previous one ended, and the last one is the current value."""
    mid, sid, chat, rid = await _setup(db, t0)
    await chat.say("u1", "終了 入力100件 体調3", jst(DAY, "15:00"))
    minute = 0
    for i in range(6):
        minute += 2
        at = jst(DAY, f"16:{minute:02d}")
        async with db.transaction() as s:
            await records.staff_edit(s, rid, "outputs", f"入力{110 + i}件", sid, at, reason=WHY)
            await records.staff_edit(s, rid, "sleep_hours", str(5 + i), sid, at, reason=WHY)
        await chat.say("u1", "修正", at)
        await chat.tap("u1", "fix:sleep_hours", at)
        await chat.say("u1", f"{7 + i}時間半", at)

    async with db.transaction() as s:
        h = await records.report_history(s, mid, jst(DAY, "12:00").date())
    assert h is not None
    chains: dict[str, list[records.RevisionView]] = {}
    for r in h.revisions:
        chains.setdefault(r.field, []).append(r)
    for field, chain in chains.items():
        for prev, nxt in pairwise(chain):
            assert nxt.before == prev.after, field
    sleep = chains["sleep_hours"]
    assert len(sleep) == 1 + 6 * 2  # the first answer, then staff and member in turn
    assert [r.source for r in sleep[-2:]] == ["staff_edit", "member_correction"]
    assert h.current["sleep_hours"] == 12.5 and h.current["outputs"] == "入力115件"
    _current_is_last_revision(h)


async def test_staff_edit_waits_for_a_member_message_in_flight(db: Database, t0: datetime) -> None:
    """The other order: the member's message is being handled when staff edit the same field."""
    mid, sid, _, rid = await _setup(db, t0)
    msg = InboundMessage(
        event_id="ev-end",
        sender=ContactRef(Platform.CONSOLE, "u1"),
        sent_at=jst(DAY, "15:00"),
        text="終了 入力130件 体調3",
    )

    async def staff_edit() -> None:
        async with db.transaction() as s:
            await records.staff_edit(
                s, rid, "outputs", "入力131件", sid, jst(DAY, "15:01"), reason=WHY
            )

    async with db.transaction() as member_session:
        await inbox.receive(member_session, msg, msg.sent_at)
        staff = asyncio.create_task(staff_edit())
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert not staff.done()
    await staff

    async with db.transaction() as s:
        h = await records.report_history(s, mid, jst(DAY, "12:00").date())
    assert h is not None and h.current["outputs"] == "入力131件"
    outputs = [(r.before, r.after, r.source) for r in h.revisions if r.field == "outputs"]
    assert outputs == [(None, "入力130件", "member"), ("入力130件", "入力131件", "staff_edit")]
    _current_is_last_revision(h)
