"""`/nippo` for staff and managers: the board, one day's 日報, a week, alerts, link codes."""

from __future__ import annotations

import json
from datetime import date, time
from typing import Any

from sqlalchemy import select

from bot.core import texts
from bot.core.domain import AlertLevel
from bot.services import alerting
from storage import audit_chain
from storage.models import (
    AuditLog,
    DailyReport,
    Facility,
    LinkCode,
    Member,
    ReportRevision,
    ScheduleException,
)
from tests.slack.conftest import CHANNEL, MANAGER, STAFF1, Rig
from tests.slack.fake_slack import Call
from tests.support import jst, make_member

DAY = "2026-07-01"
EVIL = "<!channel> & <https://evil.example|押して>"
VIEWS = ~audit_chain.written()  # what staff looked at (writes are audited too)


def all_text(calls: list[Call]) -> str:
    """Every text a person would read in the recorded messages."""
    return json.dumps([c.args.get("blocks") for c in calls], ensure_ascii=False)


async def add_report(rig: Rig, member_id: int, **values: Any) -> None:
    now = rig.clock.at
    async with rig.db.transaction() as session:
        session.add(
            DailyReport(
                member_id=member_id,
                business_date=date.fromisoformat(DAY),
                mode="zaitaku",
                flags={},
                created_at=now,
                updated_at=now,
                **values,
            )
        )


async def forty_members(rig: Rig) -> list[int]:
    """40 members working from home today: 12 started, 10 ended, 4 absent, 14 not reported."""
    ids = []
    for i in range(40):
        name = EVIL if i == 7 else f"利用者{i:02d} 太郎"
        ids.append(await make_member(rig.db, rig.facility_id, rig.clock.at, name, kana=None))
    long_text = "とても長い作業内容" * 200  # 1800 characters of free text
    for n, mid in enumerate(ids):
        if n < 12:
            await add_report(
                rig,
                mid,
                status="started",
                start_at=jst(DAY, "10:05"),
                health_start=4,
                sleep_hours=6.5,
                planned_work=long_text if n == 0 else "データ入力 <b>&",
            )
        elif n < 22:
            await add_report(
                rig,
                mid,
                status="ended",
                start_at=jst(DAY, "09:00"),
                health_start=3,
                sleep_hours=7,
                planned_work="封入作業",
                end_at=jst(DAY, "10:50"),
                outputs="封入 300件",
            )
        elif n < 26:
            await add_report(rig, mid, status="absent", absence_note="通院のため")
    return ids


async def test_the_board_for_40_members_is_one_message_with_the_problems_first(rig: Rig) -> None:
    ids = await forty_members(rig)
    async with rig.db.transaction() as session:
        facility = await session.get_one(Facility, rig.facility_id)
        for n, level, kind in ((5, AlertLevel.WARNING, "short_sleep"),
                               (13, AlertLevel.URGENT, "low_health"),
                               (31, AlertLevel.CRISIS, "crisis")):  # fmt: skip
            await alerting.raise_alert(
                session, facility=facility, member=await session.get_one(Member, ids[n]),
                day=date.fromisoformat(DAY), kind=kind, level=level, detail="", key=f"k{n}",
                now=rig.clock.at,
            )  # fmt: skip
        # one of the unreported members was due at 09:30: the longest overdue comes first
        (await session.get_one(Member, ids[39])).name = "遅れ 一番"
    await set_start(rig, ids[39], "09:30")
    resp = await rig.command(STAFF1, "status")
    assert resp.status_code == 200
    await rig.fake.wait_for("chat.postEphemeral")
    await rig.fake.settle()
    (post,) = rig.fake.of("chat.postEphemeral")  # one message for 40 members
    assert post.args["user"] == STAFF1
    rig.fake.check_limits()
    text = all_text([post])
    shown_rows = [b for b in post.args["blocks"] if b["type"] != "actions"]
    rows = json.dumps(shown_rows, ensure_ascii=False)
    for i in range(40):
        if i not in (7, 39):
            assert rows.count(f"利用者{i:02d} 太郎") == 1, i  # (the menu below names them too)
    assert "在宅 40名 / 作業中 12 / 終了 10 / 休み 4 / 未報告 14" in text
    assert text.count("⚠ 開始の連絡がありません(1時間0分経過)") == 13
    assert text.count("⚠ 開始の連絡がありません(1時間30分経過)") == 1
    # problems first: the crisis, the urgent one, then 未報告 (longest first), then worries …
    order = [
        "🆘 *利用者31 太郎*",
        "🔴 *利用者13 太郎*",
        "*⏰ 未報告(13名)*",  # 13 of the 14 unreported: 利用者31 stands with its alert
        "⏰ *遅れ 一番*",
        "⏰ *利用者26 太郎*",
        "*🟠 気になる回答(1名)*",
        "🟠 *利用者05 太郎*",
        "*🟢 作業中(11名)*",
        "*✅ 終了(9名)*",
        "*💤 休み(4名)*",
    ]
    places = [text.index(marker) for marker in order]
    assert places == sorted(places), sorted(order, key=text.index)
    assert "睡眠が短いとの回答" in text and "命に関わるおそれ" in text
    # a hostile name is shown, but cannot mention the channel or become a link
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|押して&gt;" in text
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;b&gt;&amp;" in text
    async with rig.db.transaction() as session:
        audit = (await session.execute(select(AuditLog).where(VIEWS))).scalars().all()
    assert [(a.actor.startswith("staff:"), a.action) for a in audit] == [(True, "slack.status")]


async def set_start(rig: Rig, member_id: int, hhmm: str) -> None:
    """The member's 在宅 plan for today starts at `hhmm` (a one-day exception)."""
    async with rig.db.transaction() as session:
        session.add(
            ScheduleException(
                member_id=member_id,
                date=date.fromisoformat(DAY),
                mode="zaitaku",
                start=time.fromisoformat(hhmm),
                end=time(15, 0),
            )
        )


async def test_status_mine_shows_only_the_viewers_members(rig: Rig) -> None:
    mine = await make_member(rig.db, rig.facility_id, rig.clock.at, "担当 花子")
    deputy = await make_member(rig.db, rig.facility_id, rig.clock.at, "代理 次郎")
    await make_member(rig.db, rig.facility_id, rig.clock.at, "ほか 三郎")
    async with rig.db.transaction() as session:
        (await session.get_one(Member, mine)).primary_staff_id = 1
        (await session.get_one(Member, deputy)).substitute_staff_id = 1
    await rig.command(STAFF1, "status mine")
    (post,) = await rig.fake.wait_for("chat.postEphemeral")
    text = all_text([post])
    assert "担当のみ" in text and "担当 花子" in text and "代理 次郎" in text
    assert "ほか 三郎" not in text and "在宅 2名" in text


async def test_tomorrow_lists_the_next_business_days_plan(rig: Rig) -> None:
    """On a Friday, `/nippo tomorrow` is Monday's plan (the weekend is closed)."""
    rig.clock.at = jst("2026-07-03", "16:00")  # a Friday
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    async with rig.db.transaction() as session:
        session.add(
            ScheduleException(
                member_id=mid, date=date(2026, 7, 6), mode="zaitaku",
                start=time(13, 0), end=time(16, 0),
            )
        )  # fmt: skip
    await rig.command(STAFF1, "tomorrow")
    (post,) = await rig.fake.wait_for("chat.postEphemeral")
    text = all_text([post])
    assert "7/6(月) 在宅の予定" in text and "在宅の予定 1名" in text
    assert "山田 太郎" in text and "予定 13:00〜16:00" in text
    assert "開始の連絡がありません" not in text


async def test_status_share_posts_to_the_staff_channel_for_managers_only(rig: Rig) -> None:
    await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    await rig.command(MANAGER, "status share", channel=CHANNEL)
    posts = await rig.fake.wait_for("chat.postMessage")
    assert posts[0].args["channel"] == CHANNEL
    assert "山田 太郎" in all_text(posts)
    assert "⚠ 開始の連絡がありません(1時間0分経過)" in all_text(posts)
    # staff may look (ephemeral) but not post the board; nobody posts it anywhere else
    await rig.command(STAFF1, "status share", channel=CHANNEL)
    await rig.command(MANAGER, "status share", channel="C_RANDOM")
    refusals = await rig.fake.wait_for("chat.postEphemeral", 2)
    assert texts.SLACK_MANAGERS_ONLY in all_text(refusals[:1])
    assert texts.SLACK_SHARE_STAFF_CHANNEL_ONLY in all_text(refusals[1:2])
    assert len(rig.fake.of("chat.postMessage")) == 1


async def test_minimal_disclosure_keeps_answers_out_of_the_board(rig: Rig) -> None:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    await add_report(rig, mid, status="started", start_at=rig.clock.at, health_start=2,
                     planned_work="診察の予定を整理")  # fmt: skip
    async with rig.db.transaction() as session:
        (await session.get_one(Facility, rig.facility_id)).disclosure = "minimal"
    await rig.command(MANAGER, "status share", channel=CHANNEL)
    shown = all_text(await rig.fake.wait_for("chat.postMessage"))
    assert "山田 太郎" in shown and "作業中" in shown
    assert "診察の予定を整理" not in shown and "少し悪い" not in shown


async def test_status_for_another_day_and_a_bad_date(rig: Rig) -> None:
    await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    await rig.command(STAFF1, "status 2026-07-04")  # a Saturday: nobody works from home
    await rig.command(STAFF1, "status 7月")
    await rig.command(STAFF1, "status 2026-06-30")  # yesterday: missing, not "overdue by 25h"
    posts = await rig.fake.wait_for("chat.postEphemeral", 3)
    texts_ = {all_text([p]) for p in posts}
    assert any("山田 太郎" in t and "⚠ 報告がありません" in t and "経過" not in t for t in texts_)
    assert any("在宅予定の利用者はいません" in t for t in texts_)
    assert any("YYYY-MM-DD" in t for t in texts_)


async def test_non_staff_are_refused_and_see_no_member_data(rig: Rig) -> None:
    await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    for words in ("status", "report 山田", "alerts", "link 山田", "week"):
        await rig.command("U_STRANGER", words)
    posts = await rig.fake.wait_for("chat.postEphemeral", 5)
    assert all("登録済みの職員だけ" in all_text([p]) for p in posts)
    assert "山田" not in all_text(posts)
    assert await rig.count(AuditLog, VIEWS) == 0
    assert await rig.count(LinkCode) == 0


async def test_report_shows_one_day_with_revisions_and_is_audited(rig: Rig) -> None:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    await add_report(
        rig, mid, status="started", start_at=jst(DAY, "10:00"), planned_work="データ入力"
    )
    async with rig.db.transaction() as session:
        report = (await session.execute(select(DailyReport))).scalar_one()
        session.add(
            ReportRevision(
                report_id=report.id,
                field="start_at",
                before=jst(DAY, "10:30").isoformat(),
                after=jst(DAY, "10:00").isoformat(),
                by_member_id=mid,
                source="member_correction",
                at=jst(DAY, "10:40"),
            )
        )
    await rig.command(MANAGER, "report 山田 2026-07-01")
    posts = await rig.fake.wait_for("chat.postEphemeral")
    text = all_text(posts)
    assert "山田 太郎さん 7/1(水) の日報" in text
    assert "開始時刻: 10:30 → 10:00(本人が修正)" in text
    async with rig.db.transaction() as session:
        audit = (await session.execute(select(AuditLog).where(VIEWS))).scalar_one()
    assert (audit.action, audit.target) == ("slack.report", f"member:{mid}")


async def test_ambiguous_and_unknown_names_list_candidates(rig: Rig) -> None:
    await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎", kana="やまだ たろう")
    await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 花子", kana="やまだ はなこ")
    await rig.command(STAFF1, "report 山田")
    await rig.command(STAFF1, "report 田中")
    await rig.command(STAFF1, "report やまだ は")
    posts = await rig.fake.wait_for("chat.postEphemeral", 3)
    answers = [all_text([p]) for p in posts]
    assert any("複数います" in a and "山田 太郎" in a and "山田 花子" in a for a in answers)
    assert any("田中" in a and "見つかりません" in a for a in answers)
    assert any("山田 花子さん" in a and "の日報" in a for a in answers)


async def test_week_link_alerts_and_help(rig: Rig) -> None:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    await add_report(rig, mid, status="ended", start_at=jst(DAY, "10:00"), end_at=jst(DAY, "10:50"))
    async with rig.db.transaction() as session:
        member = await session.get_one(Member, mid)
        facility = await session.get_one(Facility, rig.facility_id)
        await alerting.raise_alert(
            session,
            facility=facility,
            member=member,
            day=date(2026, 7, 1),
            kind="low_health",
            level=AlertLevel.WARNING,
            detail="体調 2",
            key="k1",
            now=rig.clock.at,
        )
    for words in ("week", "week 山田", "link 山田", "alerts", "help", "ほげ"):
        await rig.command(MANAGER, words)
    posts = await rig.fake.wait_for("chat.postEphemeral", 6)
    by_text = all_text(posts)
    assert "6/25(木)〜7/1(水) の記録" in by_text
    async with rig.db.transaction() as session:
        code = (await session.execute(select(LinkCode))).scalar_one()
    assert code.member_id == mid and code.code in by_text
    assert "対応します" in by_text and "未対応のアラート 1件" in by_text
    assert "/nippo status" in by_text and "「ほげ」というコマンドはありません" in by_text
    actions = {a for (a,) in (await _audits(rig))}
    assert {"slack.week", "slack.link_code", "slack.alerts"} <= actions


async def _audits(rig: Rig) -> list[tuple[str]]:
    async with rig.db.transaction() as session:
        return [tuple(r) for r in (await session.execute(select(AuditLog.action))).all()]


async def test_in_a_channel_without_the_bot_the_answer_goes_to_the_response_url(rig: Rig) -> None:
    await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    missing = {"ok": False, "error": "channel_not_found"}
    rig.fake.fail("chat.postEphemeral", 200, missing, {})
    await rig.command(STAFF1, "status", channel="D_OTHER")
    (hook,) = await rig.fake.wait_for("response_url")
    assert hook.args["response_type"] == "ephemeral"
    assert "山田 太郎" in all_text([hook])
