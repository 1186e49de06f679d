"""Staff say what a flagged day was: `nippo report classify` (issue #16 §2).

A day reported with no 在宅 planned is flagged `unplanned` and counted as not 在宅 until staff
classify it; the decision is a `mode` revision with the staff member and the reason (修正理由),
the flag goes, a sign-off is voided and the notice staff got is closed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import days as cli_days
from bot.cli.main import app
from bot.core.domain import DayMode
from bot.services import days, records
from bot.services.records import RecordsError
from storage.db import Database
from storage.models import Alert, DailyReport, Facility, Member, ReportRevision
from tests.scheduler.helpers import add_staff
from tests.support import Chat, jst, make_facility, make_member, run_cli

SATURDAY = date(2026, 7, 4)
MONDAY_NOON = datetime(2026, 7, 6, 3, 0, tzinfo=UTC)  # 12:00 JST: past Saturday's 24 h grace


async def _report(db: Database, member_id: int) -> DailyReport:
    async with db.transaction() as s:
        stmt = select(DailyReport).where(DailyReport.member_id == member_id)
        return (await s.execute(stmt)).scalar_one()


async def _work_on_saturday(db: Database, member_id: int) -> Chat:
    chat = Chat(db)
    await chat.link("u1", member_id, jst("2026-07-03", "09:00"))
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst("2026-07-04", "10:00"))
    return chat


async def test_classifying_an_unplanned_day_keeps_who_why_and_closes_the_notice(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    mid = await make_member(db, fid, t0)
    sid = await add_staff(db, fid, "鈴木", "U1", "staff", t0)
    chat = await _work_on_saturday(db, mid)
    async with db.transaction() as s:
        report = (await s.scalars(select(DailyReport))).one()
        await records.sign_off(s, report.id, sid, jst("2026-07-04", "17:00"))

    async with db.transaction() as s:
        member, staff = (
            await s.get_one(Member, mid),
            await records.staff_by_slack_user(s, await s.get_one(Facility, fid), "U1"),
        )
        done = await days.classify_day(
            s, member, SATURDAY, DayMode.ZAITAKU, staff, "本人に電話で確認", MONDAY_NOON
        )
    assert (done.before, done.after, done.flag_cleared) == ("off", "zaitaku", "unplanned")
    assert done.sign_off_voided and done.notices_closed == 1

    r = await _report(db, mid)
    assert (r.mode, r.flags, r.signed_off_by, r.signoff_voided_at) == (
        "zaitaku",
        {},
        None,
        MONDAY_NOON,
    )
    async with db.transaction() as s:
        rev = (await s.scalars(select(ReportRevision).where(ReportRevision.field == "mode"))).one()
        alert = (await s.scalars(select(Alert))).one()
    assert (rev.before, rev.after, rev.source, rev.by_staff_id, rev.reason, rev.at) == (
        "off",
        "zaitaku",
        "staff_classify",
        sid,
        "本人に電話で確認",
        MONDAY_NOON,
    )
    assert rev.late  # Monday noon is more than 24 h after Saturday ended: a 事後記録
    assert (alert.state, alert.resolved_by) == ("resolved", sid)
    assert alert.resolution == "職員が「在宅」の日と確認しました(理由: 本人に電話で確認)"

    # Classified: later messages that day are not flagged again.
    await chat.say("u1", "終了 入力50件 体調4", jst("2026-07-04", "15:00"))
    assert (await _report(db, mid)).flags == {}


async def test_classifying_needs_a_reason_and_a_report(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    await add_staff(db, fid, "鈴木", "U1", "staff", t0)
    async with db.transaction() as s:
        member = await s.get_one(Member, mid)
        staff = await records.staff_by_slack_user(s, await s.get_one(Facility, fid), "U1")
        with pytest.raises(RecordsError, match="修正理由"):
            await days.classify_day(s, member, SATURDAY, DayMode.OFF, staff, " ", MONDAY_NOON)
        with pytest.raises(RecordsError, match="no 日報"):
            await days.classify_day(s, member, SATURDAY, DayMode.OFF, staff, "確認", MONDAY_NOON)


def test_report_classify_from_the_command_line(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cli("facility", "init", "--name", "ひまわり")
    run_cli("member", "add", "--name", "山田 太郎")
    run_cli("schedule", "set", "山田", "--days", "mon,tue,wed,thu,fri", "--mode", "zaitaku",
            "--start", "10:00", "--end", "15:00")  # fmt: skip
    run_cli("staff", "add", "--name", "鈴木", "--slack-user", "U1", "--role", "staff")

    async def chat() -> None:
        db = Database(f"sqlite:///{cli_env / 'cli.db'}")
        try:
            async with db.transaction() as s:
                (member,) = (await s.scalars(select(Member))).all()
            await _work_on_saturday(db, member.id)
        finally:
            await db.dispose()

    asyncio.run(chat())
    monkeypatch.setattr(cli_days, "now", lambda: MONDAY_NOON)
    base = ["report", "classify", "山田", "--date", "2026-07-04", "--mode", "tsusho"]
    missing = CliRunner().invoke(app, [*base, "--staff", "U1"])
    assert missing.exit_code == 2 and "--reason" in missing.output

    out = run_cli(*base, "--staff", "U1", "--reason", "事業所で作業していたと確認")
    assert out.splitlines() == [
        "山田 太郎 2026-07-04: mode off -> tsusho",
        "flag cleared: unplanned",
    ]
    bad = CliRunner().invoke(app, ["report", "classify", "山田", "--date", "2026-07-04",
                                   "--mode", "home", "--staff", "U1", "--reason", "x"])  # fmt: skip
    assert bad.exit_code == 2 and "zaitaku, tsusho or off" in bad.output


async def test_the_month_view_asks_staff_about_an_unplanned_day_until_they_classify_it(
    db: Database, t0: datetime
) -> None:
    """The check-in keeps the day as 休み with the flag; the month view must still name it."""
    from bot.core.compliance import Code
    from bot.queries import compliance_report

    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    mid = await make_member(db, fid, t0)
    await add_staff(db, fid, "鈴木", "U1", "staff", t0)
    await _work_on_saturday(db, mid)

    async def view() -> tuple[set[tuple[Code, date | None]], tuple[date, ...]]:
        async with db.transaction() as s:
            month = await compliance_report.month_view(
                s, await s.get_one(Facility, fid), date(2026, 7, 1)
            )
        (m,) = month.members
        return {(f.code, f.day) for f in m.findings}, m.zaitaku_days

    findings, zaitaku = await view()
    assert (Code.UNPLANNED_DAY, SATURDAY) in findings
    assert SATURDAY not in zaitaku  # never silently a 在宅 day

    async with db.transaction() as s:
        member = await s.get_one(Member, mid)
        staff = await records.staff_by_slack_user(s, await s.get_one(Facility, fid), "U1")
        await days.classify_day(
            s, member, SATURDAY, DayMode.ZAITAKU, staff, "電話で確認", MONDAY_NOON
        )
    findings, zaitaku = await view()
    assert (Code.UNPLANNED_DAY, SATURDAY) not in findings
    assert SATURDAY in zaitaku
