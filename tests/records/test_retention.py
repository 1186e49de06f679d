"""Retention: records go only when their service date is more than 5 years past."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.core.compliance import add_years, deletable, retention_cutoff
from bot.services import retention
from bot.services.admin import AdminError
from storage import audit_chain
from storage.db import Database
from storage.models import (
    Alert,
    Attachment,
    AuditLog,
    Conversation,
    DailyReport,
    Evaluation,
    InboxEvent,
    Member,
    OutboxMessage,
    ReportRevision,
    SupportRecord,
)
from tests.support import jst, make_facility, make_member

MODELS = {
    "report_revision": ReportRevision,
    "attachment": Attachment,
    "support_record": SupportRecord,
    "alert": Alert,
    "daily_report": DailyReport,
    "evaluation": Evaluation,
    "outbox_message": OutboxMessage,
}


async def _records_on(db: Database, member_id: int, day: date) -> None:
    """One of everything dated `day`: a 日報 with a revision and a photo, a 支援記録 entry,
    an alert and an evaluation."""
    at = jst(day.isoformat(), "10:00")
    async with db.transaction() as s:
        report = DailyReport(
            member_id=member_id, business_date=day, mode="zaitaku", status="ended", flags={},
            created_at=at, updated_at=at,
        )  # fmt: skip
        s.add(report)
        await s.flush()
        s.add_all(
            [
                ReportRevision(
                    report_id=report.id, field="note", before=None, after="x",
                    by_member_id=member_id, source="member", at=at,
                ),
                Attachment(
                    report_id=report.id, platform="line", platform_message_id=f"p{day}",
                    content_type="image/jpeg", sha256="0" * 64, data=b"jpeg", at=at,
                ),
                SupportRecord(
                    member_id=member_id, business_date=day, at=at, kind="start_check",
                    channel="line", content="開始確認", entered_at=at,
                    entered_by=f"member:{member_id}",
                ),
                Alert(
                    key=f"a:{day}", member_id=member_id, business_date=day, kind="missed_start",
                    level="warning", state="resolved", detail="", opened_at=at,
                ),
                Evaluation(
                    member_id=member_id, kind="weekly", date=day, method="phone", created_at=at,
                    counts_as_monthly=False,
                ),
                # the raw copies of the day's messages hold the same health answers
                OutboxMessage(
                    key=f"reply:{day}", platform="line", recipient="U1", member_id=member_id,
                    payload={"text": "体調 2"}, retry_key="k", status="sent", attempts=1,
                    next_attempt_at=at, created_at=at,
                ),
                InboxEvent(
                    platform="line", event_id=f"ev:{day}", body={"text": "体調2 しんどい"},
                    status="done", attempts=1, received_at=at,
                ),
            ]
        )  # fmt: skip


async def _dates_left(db: Database) -> dict[str, list[date]]:
    async with db.transaction() as s:
        return {
            "daily_report": sorted(
                (await s.execute(select(DailyReport.business_date))).scalars().all()
            ),
            "support_record": sorted(
                (await s.execute(select(SupportRecord.business_date))).scalars().all()
            ),
            "alert": sorted((await s.execute(select(Alert.business_date))).scalars().all()),
            "evaluation": sorted((await s.execute(select(Evaluation.date))).scalars().all()),
        }


async def _count(db: Database, model: type) -> int:
    async with db.transaction() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


@pytest.mark.parametrize(
    ("today", "kept", "deleted"),
    [
        # exactly 5 years and a day less are kept; a day more goes
        (date(2031, 7, 1), [date(2026, 7, 1), date(2026, 7, 2)], [date(2026, 6, 30)]),
        # a leap day's fifth anniversary is 28 February (民法143条): it goes on 1 March
        (date(2029, 3, 1), [date(2024, 3, 1)], [date(2024, 2, 29), date(2024, 2, 28)]),
        (date(2029, 2, 28), [date(2024, 2, 29), date(2024, 2, 28)], [date(2024, 2, 27)]),
        # on a leap day, what turned 5 on 28 February goes
        (date(2028, 2, 29), [date(2023, 3, 1)], [date(2023, 2, 28)]),
    ],
)
async def test_boundaries(
    db: Database, t0: datetime, today: date, kept: list[date], deleted: list[date]
) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    for day in kept + deleted:
        await _records_on(db, mid, day)
    now = jst(today.isoformat(), "23:30")  # late evening in Tokyo: still `today` there

    async with db.transaction() as s:
        dry, dry_inbox = await retention.run(s, now, years=5, apply=False, actor="test")
    assert dry.counts == {name: len(deleted) for name in MODELS} | {"conversation": 0}
    assert dry_inbox.facility_id == retention.INSTALLATION
    assert dry_inbox.counts == {"inbox_event": len(deleted)}
    assert all(d == sorted(kept + deleted) for d in (await _dates_left(db)).values())

    async with db.transaction() as s:
        done, done_inbox = await retention.run(s, now, years=5, apply=True, actor="test")
    assert done.counts == dry.counts and done_inbox.counts == dry_inbox.counts
    assert await _count(db, OutboxMessage) == await _count(db, InboxEvent) == len(kept)
    assert all(d == sorted(kept) for d in (await _dates_left(db)).values())
    assert await _count(db, ReportRevision) == await _count(db, Attachment) == len(kept)
    assert await _count(db, Member) == 1  # members stay
    async with db.transaction() as s:
        runs = select(AuditLog.action).where(~audit_chain.written()).order_by(AuditLog.id)
        actions = (await s.execute(runs)).scalars().all()
    assert actions == ["retention_dry_run"] * 2 + ["retention_apply"] * 2


async def test_a_longer_period_keeps_more_and_a_shorter_one_is_refused(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    await _records_on(db, mid, date(2020, 1, 10))
    now = jst("2026-01-11", "12:00")
    async with db.transaction() as s:
        seven, _ = await retention.run(s, now, years=7, apply=True, actor="test")
    assert seven.counts["daily_report"] == 0
    async with db.transaction() as s:
        with pytest.raises(AdminError, match="at least 5 years"):
            await retention.run(s, now, years=4, apply=True, actor="test")
    assert await _count(db, DailyReport) == 1


@given(st.dates(date(2000, 1, 1), date(2090, 12, 31)), st.integers(5, 12))
def test_cutoff_agrees_with_the_rule(today: date, years: int) -> None:
    cutoff = retention_cutoff(today, years)
    for d in (cutoff - timedelta(days=1), cutoff, cutoff + timedelta(days=1)):
        assert deletable(d, today, years) == (d < cutoff)
    # nothing younger than `years` full years is ever deletable
    assert add_years(cutoff, years) >= today


async def test_a_conversation_left_untouched_past_the_period_goes(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    old = jst("2020-01-10", "10:00")
    async with db.transaction() as s:
        s.add(Conversation(member_id=mid, kind="start", state={"step": "sleep"}, updated_at=old))
    async with db.transaction() as s:
        facility, _ = await retention.run(s, jst("2025-01-10", "12:00"), years=5, apply=True,
                                          actor="test")  # fmt: skip
    assert facility.counts["conversation"] == 0  # exactly five years: kept
    async with db.transaction() as s:
        facility, _ = await retention.run(s, jst("2025-01-11", "12:00"), years=5, apply=True,
                                          actor="test")  # fmt: skip
    assert facility.counts["conversation"] == 1
    assert await _count(db, Conversation) == 0
