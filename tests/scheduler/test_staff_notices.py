"""What staff hear besides the ladder: worrying answers at once, the end-of-day digest with
flagged entries, and evaluations coming due (R5 weekly, R6 monthly), each once."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from bot.services import ticks
from storage.db import Database
from storage.models import Alert, DailyReport, Evaluation, OutboxMessage
from tests.scheduler.helpers import effects
from tests.support import Chat, jst, make_facility, make_member

DAY = "2026-07-01"


async def test_worrying_answers_alert_staff_at_once_with_a_severity(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    chat = Chat(db)
    for i, name in enumerate(("山田 太郎", "佐藤 花子", "鈴木 一郎")):
        await chat.link(f"u{i}", await make_member(db, fid, t0, name), t0)
    await chat.say("u0", "開始 体調1 睡眠3 データ入力", jst(DAY, "09:50"))
    await chat.say("u1", "相談したい", jst(DAY, "09:52"))
    await chat.say("u2", "もう助けて", jst(DAY, "09:53"))
    async with db.transaction() as session:
        alerts = (await session.scalars(select(Alert).order_by(Alert.id))).all()
    got = [(a.kind, a.level, a.opened_at) for a in alerts]
    assert ("low_health", "urgent", jst(DAY, "09:50")) in got  # 体調 1
    assert ("short_sleep", "warning", jst(DAY, "09:50")) in got
    assert ("consult", "warning", jst(DAY, "09:52")) in got
    assert ("distress", "urgent", jst(DAY, "09:53")) in got
    # … and each reached the staff channel in the same transaction, before any tick.
    staff = [e for e in await effects(db) if e[1] == "slack"]
    assert len(staff) == len(alerts) and all(e[2] == "C-STAFF" for e in staff)


async def test_digest_lists_statuses_and_flagged_entries_once(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    mid = await make_member(db, fid, t0, "山田 太郎")
    await make_member(db, fid, t0, "佐藤 花子")
    chat = Chat(db)
    await chat.link("u1", mid, t0)
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(DAY, "10:00"))
    await chat.say("u1", "終了 入力120件 体調3", jst(DAY, "15:00"))
    async with db.transaction() as session:
        report = (
            await session.scalars(select(DailyReport).where(DailyReport.member_id == mid))
        ).one()
        report.flags = {"outputs": "前日と同じ内容"}
    assert (await ticks.tick(db, jst(DAY, "16:29"))).digests == []
    assert (await ticks.tick(db, jst(DAY, "16:30"))).digests == [f"digest:{fid}:2026-07-01"]
    assert (await ticks.tick(db, jst(DAY, "16:31"))).digests == []
    async with db.transaction() as session:
        digest = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.key == f"digest:{fid}:2026-07-01")
            )
        ).one()
    payload = digest.payload
    assert digest.platform == "slack" and digest.recipient == "C-STAFF"
    assert payload["kind"] == "digest" and payload["date"] == "2026-07-01"
    assert payload["sign_off"] == {"action_id": "digest_sign_off", "value": f"{fid}:2026-07-01"}
    assert payload["text"].splitlines() == [
        "【本日のまとめ】7/1 在宅利用者 2名",
        "・山田 太郎: 終了 (10:00〜15:00)",
        "    ⚠ 成果: 前日と同じ内容",
        "・佐藤 花子: 連絡なし",
        # the missed-start alerts the 16:29 tick caught up on, nobody has taken them yet
        "未解決のアラート 2件",
        "🔴 緊急",
        "・佐藤 花子さん: 開始の連絡がありません(7/1 16:29〜) ⚠ 未対応",
        "🟠 注意",
        "・佐藤 花子さん: 開始の連絡がありません(7/1 16:29〜) ⚠ 未対応",
        "内容を確認したら「確認しました」を押してください。",
    ]
    assert [m["flags"] for m in payload["members"]] == [{"outputs": "前日と同じ内容"}, {}]


async def test_evaluations_coming_due_remind_staff_once_per_week_and_month(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    done = await make_member(db, fid, t0, "山田 太郎")
    await make_member(db, fid, t0, "佐藤 花子")
    async with db.transaction() as session:
        session.add(
            Evaluation(
                member_id=done, kind="weekly", date=date(2026, 6, 22), method="phone",
                counts_as_monthly=False, created_at=t0,
            )
        )  # fmt: skip
    wednesday, thursday = "2026-06-24", "2026-06-25"  # the 25th is a Thursday
    assert (await ticks.tick(db, jst(wednesday, "09:00"))).evaluations == []
    assert (await ticks.tick(db, jst(thursday, "08:59"))).evaluations == []
    first = await ticks.tick(db, jst(thursday, "09:00"))
    assert first.evaluations == [
        f"evaluation-due:monthly:{fid}:2026-06-01",
        f"evaluation-due:weekly:{fid}:2026-06-22",
    ]
    later = [await ticks.tick(db, jst(thursday, "09:00") + timedelta(hours=h)) for h in (1, 30)]
    assert [s.evaluations for s in later] == [[], []]
    async with db.transaction() as session:
        rows = {
            o.key: o.payload
            for o in (
                await session.scalars(
                    select(OutboxMessage).where(OutboxMessage.key.startswith("evaluation-due:"))
                )
            ).all()
        }
    weekly = rows[f"evaluation-due:weekly:{fid}:2026-06-22"]["text"]
    assert weekly == "【評価の予定】今週(6/22〜)の週1回の評価がまだの利用者: 佐藤 花子さん"
    monthly = rows[f"evaluation-due:monthly:{fid}:2026-06-01"]["text"]
    assert "山田 太郎さん、佐藤 花子さん" in monthly and "2026年6月" in monthly


async def test_nothing_to_say_is_recorded_silently_and_not_asked_again(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    await make_member(db, fid, t0, "山田 太郎")  # Mon-Fri 在宅, no evaluation this week
    saturday = "2026-07-04"
    first = await ticks.tick(db, jst(saturday, "16:30"))
    assert first.digests == []  # nobody 在宅 on Saturday: no empty digest to staff
    assert first.evaluations == [f"evaluation-due:weekly:{fid}:2026-06-29"]
    again = await ticks.tick(db, jst(saturday, "16:31"))
    assert (again.applied, again.effects) == (0, [])  # the considered keys exist: not redone
    async with db.transaction() as session:
        statuses = dict(
            (await session.execute(select(OutboxMessage.key, OutboxMessage.status))).all()
        )
    assert statuses == {
        f"digest:{fid}:2026-07-04": "skipped",
        f"evaluation-due:weekly:{fid}:2026-06-29": "pending",
    }
