"""A member who asks for staff in the middle of the end report is heard, end to end: on Slack
DM, 「相談したい」 typed where the bot asks 「今日はどんな作業をしましたか?」 reaches the alert
channel as a 相談 and never becomes the day's work; the question stays open, and an answer that
only mentions 相談 (「相談の資料を作った」) is recorded as the work, with no second alert."""

from __future__ import annotations

from sqlalchemy import select

from bot.core import texts
from storage.models import Alert, DailyReport, SupportRecord
from tests.safety.test_escalation import assign, body, channel_posts, dm_posts
from tests.slack.conftest import STAFF1, STAFF2, Rig
from tests.slack.test_alerts import deliver
from tests.slack.test_dm_checkin import dm, exchange
from tests.support import jst, link_code, make_member

DAY = "2026-07-01"  # a Wednesday, a planned 在宅 day


async def say(rig: Rig, text: str, hhmm: str) -> list[str]:
    """The member's DM; the lines of every DM the bot answered with (Slack joins replies)."""
    rig.clock.at = jst(DAY, hhmm)
    before = len(dm_posts(rig))
    await exchange(rig, dm(text, rig.clock.at))
    await rig.fake.settle()
    return [line for c in dm_posts(rig)[before:] for line in c.args["text"].splitlines()]


async def test_a_request_to_talk_during_the_end_report_reaches_staff_not_the_record(
    rig: Rig,
) -> None:
    rig.clock.at = jst(DAY, "09:00")
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    await assign(rig, mid, STAFF1, STAFF2)
    await exchange(rig, dm(await link_code(rig.db, mid, rig.clock.at), rig.clock.at))
    await say(rig, "開始 体調4 睡眠7 データ入力", "10:02")
    assert (await say(rig, "終了", "15:00"))[-1] == texts.ASK_WORK_DONE

    answered = await say(rig, "相談したい", "15:01")
    # the consult answer, then the question again: it waits for the member
    assert answered == [texts.CONSULT_ACK, texts.CONSULT_RESUME, texts.ASK_WORK_DONE]

    async with rig.db.transaction() as session:
        report = (await session.execute(select(DailyReport))).scalar_one()
        alerts = (await session.execute(select(Alert.kind, Alert.level, Alert.detail))).all()
        records = (await session.scalars(select(SupportRecord))).all()
    assert report.work_done is None and report.outputs is None
    assert [tuple(a) for a in alerts] == [("consult", "warning", "相談したい")]
    assert "相談の希望: 相談したい" in [r.content for r in records]

    await deliver(rig)
    await rig.fake.settle()
    (post,) = channel_posts(rig, "notify:concern:consult:")
    assert post.args["text"].startswith("【相談の希望】山田 太郎さん")
    assert "相談したい" in body(post)

    # The member goes on where they left off; 相談 as the work's subject is the work.
    assert (await say(rig, "相談の資料を作った", "15:05"))[-1] == texts.ASK_OUTPUTS
    await say(rig, "資料3ページ", "15:06")
    async with rig.db.transaction() as session:
        report = (await session.execute(select(DailyReport))).scalar_one()
        kinds = (await session.scalars(select(Alert.kind))).all()
    assert report.work_done == "相談の資料を作った" and report.outputs == "資料3ページ"
    assert report.status == "ended"
    assert kinds == ["consult"]  # no second 相談 for the answer
    assert len(channel_posts(rig, "notify:concern:consult:")) == 1
