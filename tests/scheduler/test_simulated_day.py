"""A whole simulated day on the real database: a tick every minute, members answering between
ticks, and the exact outbox messages (and their times) that members and staff would see."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from adapters.slack import blocks as bk
from adapters.slack import views
from bot.core.domain import reply_from_json
from bot.services import ticks
from storage.db import Database
from storage.models import Alert, Member, OutboxMessage, SupportRecord
from tests.scheduler.helpers import TOKYO, add_staff, alert_ids, effects, renotify_effects
from tests.support import Chat, jst, make_facility, make_member

DAY = "2026-07-01"  # a Wednesday


@pytest.mark.slow
async def test_a_day_of_reminders_escalations_and_resolutions(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    await add_staff(db, fid, "管理 者", "U-MGR", "manager", t0)
    ontime = await make_member(db, fid, t0, "山田 太郎")
    late = await make_member(db, fid, t0, "佐藤 花子")
    never = await make_member(db, fid, t0, "鈴木 一郎")
    absent = await make_member(db, fid, t0, "田中 次郎")
    unlinked = await make_member(db, fid, t0, "高橋 三郎")
    chat = Chat(db)
    for user, mid in (("u-on", ontime), ("u-late", late), ("u-never", never), ("u-abs", absent)):
        await chat.link(user, mid, t0)
    script = {
        "09:58": ("u-on", "開始 体調2 睡眠7 データ入力"),
        "10:05": ("u-abs", "今日は休みます"),
        "10:40": ("u-late", "開始 体調4 睡眠7 データ入力"),
        "14:59": ("u-on", "終了 入力120件 体調3"),
    }
    at = jst(DAY, "09:00")
    while at <= jst(DAY, "17:00"):
        local = at.astimezone(TOKYO).strftime("%H:%M")
        if local in script:
            user, said = script[local]
            await chat.say(user, said, at)
        await ticks.tick(db, at)
        at += timedelta(minutes=1)

    got = await effects(db)
    ids = await alert_ids(db)
    # The phone-call (urgent) alerts nobody takes re-notify: +10, +20, then every 30 minutes.
    renotified = [
        row
        for m in (never, unlinked)
        for row in renotify_effects(
            ids[f"alert:missed-start:{m}:2026-07-01:manager"], "11:00", "17:00", "C-STAFF"
        )
    ]
    assert [e for e in got if e[3].startswith("renotify:")] == sorted(
        renotified, key=lambda e: (e[0], e[3])
    )
    got = [e for e in got if not e[3].startswith("renotify:")]
    assert got == [
        ("09:58", "slack", "C-STAFF", f"notify:concern:low_health:{ontime}:2026-07-01:ev-5"),
        ("10:00", "console", "u-late", f"remind:start:{late}:2026-07-01:1"),
        ("10:00", "console", "u-never", f"remind:start:{never}:2026-07-01:1"),
        ("10:00", "console", "u-abs", f"remind:start:{absent}:2026-07-01:1"),
        ("10:05", "slack", "C-STAFF", f"notify:absence:{absent}:2026-07-01"),
        ("10:15", "console", "u-late", f"remind:start:{late}:2026-07-01:2"),
        ("10:15", "console", "u-never", f"remind:start:{never}:2026-07-01:2"),
        ("10:30", "slack", "C-STAFF", f"notify:alert:missed-start:{late}:2026-07-01:staff"),
        ("10:30", "slack", "C-STAFF", f"notify:alert:missed-start:{never}:2026-07-01:staff"),
        ("10:30", "slack", "C-STAFF", f"notify:alert:missed-start:{unlinked}:2026-07-01:staff"),
        ("10:40", "slack", "C-STAFF", f"resolve:missed-start:{late}:2026-07-01"),
        ("11:00", "slack", "C-STAFF", f"notify:alert:missed-start:{never}:2026-07-01:manager"),
        ("11:00", "slack", "C-STAFF", f"notify:alert:missed-start:{unlinked}:2026-07-01:manager"),
        ("15:00", "console", "u-late", f"remind:end:{late}:2026-07-01:1"),
        ("16:00", "slack", "C-STAFF", f"notify:alert:missed-end:{late}:2026-07-01:staff"),
        ("16:30", "slack", "C-STAFF", f"digest:{fid}:2026-07-01"),
    ]

    async with db.transaction() as session:
        rows = {o.key: o.payload for o in (await session.scalars(select(OutboxMessage))).all()}
        alerts = {a.key: a for a in (await session.scalars(select(Alert))).all()}
        reminders = (
            await session.scalars(select(SupportRecord.key).where(SupportRecord.kind == "reminder"))
        ).all()
    morning = reply_from_json(rows[f"remind:start:{never}:2026-07-01:1"]["replies"][0])
    assert morning.text == "おはようございます、鈴木 一郎さん。作業を始めるときに教えてください。"
    assert [c.label for c in morning.choices] == ["開始します", "今日は休みます", "相談したい"]
    evening = reply_from_json(rows[f"remind:end:{late}:2026-07-01:1"]["replies"][0])
    assert evening.text.startswith("佐藤 花子さん、おつかれさまです。")
    assert evening.choices[0].value == "end"
    call = rows[f"notify:alert:missed-start:{never}:2026-07-01:manager"]["text"]
    # Mentions are not part of the text (Slack shows it escaped): the sender mentions above it.
    assert "<@" not in call and "電話で確認してください" in call and "鈴木 一郎" in call
    assert "10:40 に開始の連絡" in rows[f"resolve:missed-start:{late}:2026-07-01"]["text"]
    assert alerts[f"alert:missed-start:{late}:2026-07-01:staff"].state == "resolved"
    assert alerts[f"alert:missed-start:{never}:2026-07-01:staff"].state == "open"
    digest = rows[f"digest:{fid}:2026-07-01"]
    assert digest["kind"] == "digest" and digest["facility_id"] == fid
    assert digest["date"] == "2026-07-01"
    statuses = {m["name"]: m["status"] for m in digest["members"]}
    assert statuses == {
        "山田 太郎": "ended",
        "佐藤 花子": "started",
        "鈴木 一郎": "open",
        "田中 次郎": "absent",
        "高橋 三郎": "open",
    }
    assert "鈴木 一郎: 連絡なし" in digest["text"]
    assert sorted(str(k) for k in reminders) == sorted(
        k for _, p, _, k in got if k.startswith("remind:")
    )


async def test_the_phone_call_step_mentions_the_members_own_staff_first(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    await add_staff(db, fid, "管理 者", "U-MGR", "manager", t0)
    primary = await add_staff(db, fid, "担当 者", "U-PRI", "staff", t0)
    substitute = await add_staff(db, fid, "副担当 者", "U-SUB", "staff", t0)
    await add_staff(db, fid, "他の 職員", "U-OTHER", "staff", t0)
    mid = await make_member(db, fid, t0, "鈴木 一郎")
    async with db.transaction() as session:
        member = await session.get_one(Member, mid)
        member.primary_staff_id, member.substitute_staff_id = primary, substitute
    summary = await ticks.tick(db, jst(DAY, "11:05"))  # first tick of the day, late
    assert summary.alerts == [
        f"alert:missed-start:{mid}:2026-07-01:manager",
        f"alert:missed-start:{mid}:2026-07-01:staff",
    ]
    async with db.transaction() as session:
        alert = (await session.scalars(select(Alert).where(Alert.key.endswith(":manager")))).one()
        notice = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.key == f"notify:{alert.key}")
            )
        ).one()
    assert alert.level == "urgent" and alert.kind == "missed_start"
    assert notice.payload["text"] == (
        "【開始の連絡がありません】鈴木 一郎さん(7/1) "
        "予定の開始 10:00 から60分、連絡がありません。電話で確認してください。"
    )
    # … and the Slack message mentions them, unescaped, in its own section, own staff first.
    async with db.transaction() as session:
        mentions = await views.alert_mentions(session, alert.id)
    assert mentions == [bk.section("<@U-PRI> <@U-SUB> <@U-MGR>")]
