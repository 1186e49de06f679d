"""Every record proves who wrote it and when (issue #16 §1), through the real paths: the check-in
service, a tick, the records use cases and the `nippo` CLI, on SQLite or PostgreSQL.

DESIGN §3: 「Every record carries the moment it describes, the moment it was entered and who
entered it (staff, member or bot); a late entry is a 事後記録, marked wherever it appears. A 日報
is corrected, never overwritten: each change keeps who, when, before, after and why; a later
change voids a sign-off.」 The 留意事項通知 (domain/001 IV): 「日々の連絡・助言等の記録については、
確実に残しておく必要があります。」
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli.main import app
from bot.core.domain import ContactRef, InboundMessage, Platform
from bot.services import admin, inbox, records, ticks
from bot.services.admin import add_staff
from bot.services.records import Confirmed, RecordsError
from storage.db import Database
from storage.models import DailyReport, Evaluation, Facility, ReportRevision, SupportRecord
from tests.support import Chat, jst, make_facility, make_member
from tests.support import run_cli as run

DAY = "2026-07-01"
WHY = "本人に電話で確認"


async def _setup(db: Database, t0: datetime) -> tuple[int, int, int, Chat]:
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
    return fid, mid, sid, chat


async def _records(db: Database, mid: int) -> list[SupportRecord]:
    async with db.transaction() as s:
        stmt = select(SupportRecord).where(SupportRecord.member_id == mid)
        return list((await s.execute(stmt.order_by(SupportRecord.id))).scalars())


async def _report(db: Database, mid: int, day: str = DAY) -> DailyReport:
    async with db.transaction() as s:
        stmt = select(DailyReport).where(
            DailyReport.member_id == mid, DailyReport.business_date == date.fromisoformat(day)
        )
        return (await s.execute(stmt)).scalar_one()


async def test_member_bot_and_staff_entries_say_who_and_when(db: Database, t0: datetime) -> None:
    """The member's start check keeps the moment they sent it apart from when Nippo wrote it
    down; the bot's reminder says it is the bot's; a staff contact names the staff member."""
    _, mid, sid, _ = await _setup(db, t0)
    sent, handled = jst(DAY, "10:02"), jst(DAY, "10:02:40")  # LINE was slow to deliver it
    msg = InboundMessage(
        event_id="ev-start",
        sender=ContactRef(Platform.CONSOLE, "u1"),
        sent_at=sent,
        text="開始 体調4 睡眠7 データ入力",
    )
    async with db.transaction() as s:
        await inbox.receive(s, msg, handled)
    await ticks.tick(db, jst(DAY, "15:00"))  # the planned end: the bot reminds the member
    async with db.transaction() as s:
        await records.log_contact(
            s, mid, sid, "電話", "午後の作業の進み具合を確認", jst(DAY, "13:00"), jst(DAY, "13:20")
        )
    rows = {r.kind: r for r in await _records(db, mid)}
    start = rows["start_check"]
    assert (start.at, start.entered_at, start.entered_by) == (sent, handled, f"member:{mid}")
    reminder = rows["reminder"]
    assert (reminder.entered_by, reminder.entered_at, reminder.staff_id) == (
        "bot",
        jst(DAY, "15:00"),
        None,
    )
    call = rows["staff_contact"]
    assert (call.at, call.entered_at, call.entered_by) == (
        jst(DAY, "13:00"),
        jst(DAY, "13:20"),
        f"staff:{sid}",
    )
    assert not any(r.late for r in rows.values())


async def test_late_entries_are_marked_after_the_facilitys_grace(
    db: Database, t0: datetime
) -> None:
    fid, mid, sid, _ = await _setup(db, t0)
    call = jst(DAY, "13:00")
    async with db.transaction() as s:
        on_time = await records.log_contact(
            s, mid, sid, "電話", "体調を確認", call, call + timedelta(hours=24)
        )
        late = await records.log_contact(
            s, mid, sid, "電話", "作業の様子を確認", call, call + timedelta(hours=24, minutes=1)
        )
        # an evaluation for 7/3 may be entered until the end of 7/4 (grace 24 h from 7/3's end)
        kept = await records.record_evaluation(
            s, mid, kind="weekly", day=date(2026, 7, 3), method="電話",
            now=jst("2026-07-04", "23:59"), staff_id=sid, activities="入力作業の進め方を確認",
        )  # fmt: skip
        after = await records.record_evaluation(
            s, mid, kind="weekly", day=date(2026, 7, 3), method="電話",
            now=jst("2026-07-05", "00:01"), staff_id=sid, activities="通所日の相談をした",
        )  # fmt: skip
        facility = await s.get_one(Facility, fid)
        admin.update_facility(facility, admin.FacilityChanges(late_entry_grace_hours=48))
        lenient = await records.log_contact(
            s, mid, sid, "電話", "睡眠の様子を確認", call, call + timedelta(hours=30)
        )
    assert (on_time.late, late.late, lenient.late) == (False, True, False)
    assert (kept.late, after.late) == (False, True)
    assert (kept.entered_by, kept.created_at) == (f"staff:{sid}", jst("2026-07-04", "23:59"))


async def test_the_future_is_refused(db: Database, t0: datetime) -> None:
    _, mid, sid, _ = await _setup(db, t0)
    now = jst(DAY, "13:00")
    async with db.transaction() as s:
        with pytest.raises(RecordsError, match="まだ来ていない時刻"):
            await records.log_contact(s, mid, sid, "電話", "確認", now + timedelta(minutes=10), now)
        ok = await records.log_contact(s, mid, sid, "電話", "確認", now + timedelta(minutes=4), now)
        assert ok.business_date == date(2026, 7, 1)  # a few minutes of clock skew is not
        with pytest.raises(RecordsError, match="まだ来ていない日"):
            await records.record_evaluation(
                s, mid, kind="weekly", day=date(2026, 7, 2), method="電話", now=now,
                staff_id=sid, activities="確認",
            )  # fmt: skip
        with pytest.raises(RecordsError, match="まだ来ていない日"):
            await records.create_report_from_contact(
                s, mid, sid, day=date(2026, 7, 2), method="電話", text="確認", at=now,
                now=now, confirmed=Confirmed(start=time(10, 0)),
            )  # fmt: skip
        with pytest.raises(RecordsError, match="まだ来ていない時刻"):
            await records.create_report_from_contact(
                s, mid, sid, day=date(2026, 7, 1), method="電話", text="確認", at=now,
                now=now, confirmed=Confirmed(start=time(10, 0), end=time(15, 0)),
            )  # fmt: skip


async def test_staff_corrections_need_a_reason_and_members_do_not(
    db: Database, t0: datetime
) -> None:
    _, mid, sid, chat = await _setup(db, t0)
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(DAY, "10:02"))
    rid = (await _report(db, mid)).id
    async with db.transaction() as s:
        for reason in (None, "", "  "):
            with pytest.raises(RecordsError, match="修正理由"):
                await records.staff_edit(
                    s, rid, "outputs", "入力 80件", sid, jst(DAY, "16:00"), reason=reason
                )
        await records.staff_edit(s, rid, "outputs", "入力 80件", sid, jst(DAY, "16:00"), reason=WHY)
    await chat.say("u1", "修正", jst(DAY, "16:10"))
    await chat.tap("u1", "fix:sleep_hours", jst(DAY, "16:10"))
    await chat.say("u1", "6時間半", jst(DAY, "16:11"))
    async with db.transaction() as s:
        h = await records.report_history(s, mid, date.fromisoformat(DAY))
    assert h is not None
    changes = [(r.field, r.source, r.reason) for r in h.revisions if r.at >= jst(DAY, "16:00")]
    assert changes == [
        ("outputs", "staff_edit", WHY),
        ("sleep_hours", "member_correction", None),
    ]


async def test_a_sign_off_is_voided_by_a_later_member_correction(
    db: Database, t0: datetime
) -> None:
    """The sign-off with advice is a 支援記録 of the day; the member's correction afterwards
    voids it, and the report shows as needing a new sign-off until someone signs again."""
    _, mid, sid, chat = await _setup(db, t0)
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(DAY, "10:02"))
    await chat.say("u1", "終了 入力120件 体調3", jst(DAY, "15:01"))
    rid = (await _report(db, mid)).id
    async with db.transaction() as s:
        await records.sign_off(s, rid, sid, jst(DAY, "17:00"), advice="休憩をこまめに取るよう助言")
    await chat.say("u1", "修正", jst(DAY, "17:30"))
    await chat.tap("u1", "fix:sleep_hours", jst(DAY, "17:30"))
    await chat.say("u1", "6時間", jst(DAY, "17:31"))

    report = await _report(db, mid)
    assert (report.signed_off_by, report.signed_off_at) == (None, None)
    assert report.signoff_voided_at == jst(DAY, "17:31")
    async with db.transaction() as s:
        h = await records.report_history(s, mid, date.fromisoformat(DAY))
    assert h is not None and h.needs_sign_off
    sign = [
        (r.source, r.before, r.after, r.by, r.reason)
        for r in h.revisions
        if r.field == "signed_off"
    ]
    assert sign == [
        ("sign_off", None, f"staff:{sid}", f"staff:{sid}", "休憩をこまめに取るよう助言"),
        ("sign_off_voided", f"staff:{sid}", None, f"member:{mid}",
         "「睡眠」が変わったため、確認をやり直す必要があります"),
    ]  # fmt: skip
    (signed,) = [r for r in h.records if r.kind == "sign_off"]
    assert (signed.staff_name, signed.entered_by, signed.content) == (
        "鈴木 一郎",
        f"staff:{sid}",
        "日報を確認(サイン) / 助言: 休憩をこまめに取るよう助言",
    )
    assert signed.at == jst(DAY, "17:00") and signed.channel == "console"

    async with db.transaction() as s:
        await records.sign_off(s, rid, sid, jst(DAY, "18:00"))
        h = await records.report_history(s, mid, date.fromisoformat(DAY))
    assert h is not None and not h.needs_sign_off and h.signed_off_at == jst(DAY, "18:00")


async def test_a_day_only_staff_reached_gets_its_report_from_the_call(
    db: Database, t0: datetime
) -> None:
    _, mid, sid, _ = await _setup(db, t0)
    async with db.transaction() as s:
        report, call = await records.create_report_from_contact(
            s, mid, sid, day=date(2026, 7, 1), method="電話",
            text="本人から電話。LINE が使えず、電話で作業の開始と終了を確認",
            at=jst(DAY, "15:10"), now=jst("2026-07-03", "09:00"),
            confirmed=Confirmed(
                start=time(10, 0), end=time(15, 0), work="データ入力", outputs="入力 80件",
                health=3,
            ),
        )  # fmt: skip
        rid, call_id = report.id, call.id
    report = await _report(db, mid)
    assert (report.entered_by, report.late, report.status) == (f"staff:{sid}", True, "ended")
    assert (report.start_at, report.end_at) == (jst(DAY, "10:00"), jst(DAY, "15:00"))
    assert (report.planned_work, report.work_done, report.outputs) == ("データ入力",) * 2 + (
        "入力 80件",
    )
    assert (report.health_start, report.health_end) == (None, 3)
    async with db.transaction() as s:
        revs = list(
            (
                await s.execute(select(ReportRevision).where(ReportRevision.report_id == rid))
            ).scalars()
        )
        call = await s.get_one(SupportRecord, call_id)
    assert {r.source for r in revs} == {"staff_contact"}
    assert {r.reason for r in revs} == {"電話で本人に確認した内容"}
    assert all(r.by_staff_id == sid and r.late for r in revs)
    assert (call.kind, call.channel, call.at, call.late) == (
        "staff_contact",
        "phone",
        jst(DAY, "15:10"),
        True,
    )
    async with db.transaction() as s:
        with pytest.raises(RecordsError, match="すでにあります"):
            await records.create_report_from_contact(
                s, mid, sid, day=date(2026, 7, 1), method="電話", text="もう一度",
                at=jst(DAY, "16:00"), now=jst("2026-07-03", "09:05"),
                confirmed=Confirmed(start=time(10, 0)),
            )  # fmt: skip


async def test_vague_and_copied_staff_texts_are_kept_and_flagged(
    db: Database, t0: datetime
) -> None:
    _, mid, sid, _ = await _setup(db, t0)
    async with db.transaction() as s:
        first = await records.log_contact(
            s, mid, sid, "電話", "体調と作業の進み具合を確認", jst(DAY, "13:00"), jst(DAY, "13:00")
        )
        copied = await records.log_contact(
            s, mid, sid, "電話", "体調と作業の進み具合を確認",
            jst("2026-07-02", "13:00"), jst("2026-07-02", "13:00"),
        )  # fmt: skip
        vague = await records.log_contact(
            s, mid, sid, "電話", "特になし", jst("2026-07-03", "13:00"), jst("2026-07-03", "13:00")
        )
        monthly = await records.record_evaluation(
            s, mid, kind="monthly", day=date(2026, 7, 3), method="通所",
            now=jst("2026-07-03", "16:00"), staff_id=sid, goal="毎日4時間の作業",
            activities="入力作業", achievement="特になし",
        )  # fmt: skip
    assert (first.flags, copied.flags, vague.flags) == (
        {},
        {"content": "same_as_previous"},
        {"content": "vague"},
    )
    async with db.transaction() as s:
        stored = await s.get_one(Evaluation, monthly.id)
    assert stored.flags["achievement"] == "vague" and stored.flags["issues"] == "empty"
    assert "goal" not in stored.flags


# --- the CLI --------------------------------------------------------------------------------

runner = CliRunner()
NOW = jst("2026-07-03", "10:00")  # the CLI's clock in these tests


@pytest.fixture
def cli(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("bot.cli.records.now", lambda: NOW)
    run("facility", "init", "--name", "ひまわり")
    run("member", "add", "--name", "青木 葵")
    run("staff", "add", "--name", "鈴木", "--slack-user", "U1", "--role", "staff")
    return cli_env


def refused(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output


def test_staff_entries_need_a_named_staff_member(cli: Path) -> None:
    for args in (
        ("log", "青木", "--method", "電話", "--text", "体調を確認"),
        ("log", "青木", "--method", "電話", "--text", "体調を確認", "--staff", " "),
        ("eval", "add", "青木", "--kind", "weekly", "--date", "2026-07-02", "--method", "電話",
         "--activities", "入力作業を確認"),
    ):  # fmt: skip
        out = refused(*args)
        assert "--staff" in out and "職員" in out and len(out.strip().splitlines()) == 1
    assert "no active staff" in refused(
        "log", "青木", "--method", "電話", "--text", "体調を確認", "--staff", "U404"
    )


def test_cli_marks_late_entries_warns_once_and_refuses_the_future(cli: Path) -> None:
    out = run("log", "青木", "--method", "電話", "--text", "特になし", "--staff", "U1",
              "--at", "2026-07-01T13:00+09:00")  # fmt: skip
    first, warning = out.strip().splitlines()
    assert first.endswith("2026-07-01 電話 【事後記録】")
    assert "「内容」" in warning and "具体的" in warning
    out = run("log", "青木", "--method", "電話", "--text", "午後の作業の進み具合を確認",
              "--staff", "U1", "--at", "2026-07-03T09:30+09:00")  # fmt: skip
    assert "【事後記録】" not in out and "⚠" not in out
    assert "まだ来ていない時刻(2026-07-03 11:00)" in refused(
        "log", "青木", "--method", "電話", "--text", "確認", "--staff", "U1",
        "--at", "2026-07-03T11:00+09:00",
    )  # fmt: skip
    out = run("eval", "add", "青木", "--kind", "weekly", "--date", "2026-07-01",
              "--method", "電話", "--staff", "U1", "--activities", "特になし")  # fmt: skip
    assert "【事後記録】" in out and "「取組内容」" in out
    assert "まだ来ていない日" in refused(
        "eval", "add", "青木", "--kind", "weekly", "--date", "2026-07-04", "--method", "電話",
        "--staff", "U1", "--activities", "入力作業を確認",
    )  # fmt: skip


def test_cli_report_from_a_call_edit_with_reason_sign_off_and_history(cli: Path) -> None:
    out = run("report", "create", "青木", "--date", "2026-07-01", "--staff", "U1",
              "--method", "電話", "--text", "電話で開始と終了を確認", "--at", "15:10",
              "--start", "10:00", "--end", "15:00", "--work", "データ入力",
              "--outputs", "入力 80件", "--health", "3")  # fmt: skip
    assert "(ended)" in out and "【事後記録】" in out
    assert "すでにあります" in refused(
        "report", "create", "青木", "--date", "2026-07-01", "--staff", "U1", "--method", "電話",
        "--text", "再度", "--at", "16:00", "--start", "10:00",
    )  # fmt: skip
    assert "--at" in refused(  # a past day's call time is not guessed
        "report", "create", "青木", "--date", "2026-07-02", "--staff", "U1", "--method", "電話",
        "--text", "電話で確認", "--start", "10:00",
    )  # fmt: skip
    assert "signed off by 鈴木" in run(
        "report", "sign-off", "青木", "--date", "2026-07-01", "--staff", "U1",
        "--advice", "午後は休憩を多めに",
    )  # fmt: skip
    assert "--reason" in refused(
        "report", "edit", "青木", "--date", "2026-07-01", "--staff", "U1",
        "--field", "outputs", "--value", "入力 90件",
    )  # fmt: skip
    out = run("report", "edit", "青木", "--date", "2026-07-01", "--staff", "U1", "--field",
              "outputs", "--value", "入力 90件", "--reason", "本人から訂正の連絡")  # fmt: skip
    assert "outputs: changed" in out and "もう一度 sign-off" in out

    history = run("report", "history", "青木", "--date", "2026-07-01")
    assert "+00:00" not in history and "T01:" not in history  # local times only
    assert "  記録: 2026-07-03 10:00 鈴木 【事後記録】" in history
    assert "  start_at: 2026-07-01 10:00" in history
    assert "  確認: 要再確認(2026-07-03 10:00 の修正で取り消されました)" in history
    assert (
        "    2026-07-03 10:00 outputs: 入力 80件 -> 入力 90件 (職員が修正) 鈴木"
        " 理由: 本人から訂正の連絡 【事後記録】"
    ) in history
    assert "職員が確認(サイン) 鈴木 助言: 午後は休憩を多めに 【事後記録】" in history
    assert (
        "    2026-07-01 15:10 職員による連絡(電話) 鈴木: 電話で開始と終了を確認"
        " (記録 2026-07-03 10:00 鈴木) 【事後記録】"
    ) in history


async def test_the_days_sign_off_is_one_row_per_report_however_often_it_is_pressed(
    db: Database, t0: datetime
) -> None:
    fid, mid, sid, chat = await _setup(db, t0)
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(DAY, "10:02"))
    for at in ("17:00", "17:01"):  # the digest's button, pressed twice
        async with db.transaction() as s:
            await records.sign_off_day(s, fid, date.fromisoformat(DAY), sid, jst(DAY, at))
    signs = [r for r in await _records(db, mid) if r.kind == "sign_off"]
    assert [(r.at, r.channel, r.staff_id) for r in signs] == [(jst(DAY, "17:00"), "slack", sid)]
