"""One Slack message per member and day (issue #19): a member's missed start, a worrying
answer and a 相談 on one day live in one channel message, updated in place, with a thread as
its timeline; a crisis joining it still pings; the next day is a new message."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select

from adapters.slack.deps import web_client
from adapters.slack.sender import SlackSender
from bot.core import texts
from bot.core.domain import AlertLevel
from bot.services import alerting, delivery, ticks
from storage.models import Alert, Facility, Member, OutboxMessage, Staff
from tests.slack.conftest import CHANNEL, MANAGER, STAFF1, STAFF2, Rig
from tests.slack.fake_slack import Call
from tests.slack.test_alerts import press
from tests.support import Chat, jst, make_member

DAY = "2026-07-01"  # a Wednesday


class Channel:
    """The alert channel as the real sender (one instance: it keeps the pace) posts to it."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.sender = SlackSender(web_client("xoxb-test", rig.fake.url, retries=False), rig.db)

    async def at(self, hhmm: str, day: str = DAY, *, tick: bool = False) -> None:
        self.rig.clock.at = jst(day, hhmm)
        if tick:
            await ticks.tick(self.rig.db, self.rig.clock.at)
        flushed = await delivery.flush(self.rig.db, {"slack": self.sender}, self.rig.clock.at)
        assert flushed.failed == flushed.retried == 0

    def posts(self) -> list[Call]:
        """Top-level messages in the alert channel."""
        return [
            c
            for c in self.rig.fake.of("chat.postMessage")
            if c.args["channel"] == CHANNEL and not c.args.get("thread_ts")
        ]

    def notes(self, ts: str) -> list[Call]:
        return [c for c in self.rig.fake.of("chat.postMessage") if c.args.get("thread_ts") == ts]

    def updates(self, ts: str) -> list[Call]:
        return [c for c in self.rig.fake.of("chat.update") if c.args["ts"] == ts]


def shown(call: Call) -> str:
    return json.dumps(call.args["blocks"], ensure_ascii=False)


def actions_of(call: Call) -> dict[str, list[str]]:
    """Each alert's buttons in a message: block id -> labels."""
    return {
        b["block_id"]: [e["text"]["text"] for e in b["elements"]]
        for b in call.args["blocks"]
        if b["type"] == "actions"
    }


async def alerts(rig: Rig) -> dict[str, Alert]:
    async with rig.db.transaction() as session:
        return {a.kind: a for a in (await session.scalars(select(Alert).order_by(Alert.id)))}


async def member(rig: Rig, chat: Chat, user: str = "u-yamada") -> int:
    """山田 太郎 (在宅 10:00〜15:00 on weekdays), 担当 佐藤, 代理 鈴木, linked on the console."""
    rig.clock.at = jst(DAY, "09:00")
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    async with rig.db.transaction() as session:
        staff = {s.slack_user_id: s.id for s in (await session.scalars(select(Staff))).all()}
        m = await session.get_one(Member, mid)
        m.primary_staff_id, m.substitute_staff_id = staff[STAFF1], staff[STAFF2]
    await chat.link(user, mid, rig.clock.at)  # before any alert: nothing for Slack yet
    return mid


async def test_a_members_day_is_one_message_updated_in_place_with_a_thread(rig: Rig) -> None:
    chat, channel = Chat(rig.db), Channel(rig)
    mid = await member(rig, chat)
    await channel.at("10:30", tick=True)  # no start report: the missed-start alert
    (post,) = channel.posts()
    assert "出勤" in post.args["text"] or "開始" in post.args["text"]
    ts = str(post.ts)

    # 10:42 a late start with a worrying answer: a new concern for the same member and day
    await chat.send("u-yamada", jst(DAY, "10:42"), text="開始 体調1 睡眠3 データ入力")
    await channel.at("10:42")
    assert channel.posts() == [post]  # no second channel message
    (first_note,) = channel.notes(ts)
    assert first_note.args["text"].startswith("➕ 10:42 追加:")
    assert not first_note.args.get("reply_broadcast")
    (joined,) = channel.updates(ts)
    day_alerts = await alerts(rig)
    concern = next(a for a in day_alerts.values() if a.kind not in ("missed_start",))
    assert concern.slack_ts == ts == day_alerts["missed_start"].slack_ts
    assert set(actions_of(joined)) == {f"alert:{a.id}" for a in day_alerts.values()}
    assert f"山田 太郎さん 7/1(水) のアラート({len(day_alerts)}件)" in shown(joined)

    # 10:43 the tick closes the missed start (the member did report): edited, no buttons
    await channel.at("10:43", tick=True)
    resolved = channel.updates(ts)[-1]
    assert "本人から連絡があり解消(10:43)" in shown(resolved)
    assert f"alert:{day_alerts['missed_start'].id}" not in actions_of(resolved)

    # 11:00 相談: joins the same message again, a second thread note
    await chat.send("u-yamada", jst(DAY, "11:00"), text="相談したいです")
    await channel.at("11:00")
    assert channel.posts() == [post]
    assert len(channel.notes(ts)) == 2
    latest = channel.updates(ts)[-1]
    day_alerts = await alerts(rig)
    assert "consult" in day_alerts and day_alerts["consult"].slack_ts == ts
    open_ids = {f"alert:{a.id}" for a in day_alerts.values() if a.state != "resolved"}
    assert set(actions_of(latest)) == open_ids  # buttons only for those still open
    # latest state first: the most serious open alert on top, the closed one last
    sections = [b for b in latest.args["blocks"] if b["type"] == "section"]
    assert texts.CONCERN_TITLES[concern.kind] in sections[1]["text"]["text"]
    assert shown(latest).rindex("本人から連絡があり解消") > shown(latest).index("相談")
    # a staff member takes the 相談: the shared message is re-rendered with everyone in it
    await rig.interact(press(STAFF1, "alert_take", str(day_alerts["consult"].id), ts))
    await rig.fake.wait_for("chat.update", len(rig.fake.of("chat.update")) + 1)
    taken = channel.updates(ts)[-1]
    assert "佐藤 花子さんが対応中" in shown(taken) and "本人から連絡があり解消" in shown(taken)
    assert texts.ALERT_TAKE in actions_of(taken)[f"alert:{concern.id}"]
    assert texts.ALERT_TAKE not in actions_of(taken)[f"alert:{day_alerts['consult'].id}"]

    # the next day: a new problem is a new message
    await channel.at("10:30", "2026-07-02", tick=True)
    posts = channel.posts()
    assert len(posts) == 2 and posts[1].ts != ts
    async with rig.db.transaction() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
        second = (await session.scalars(select(Alert).where(Alert.member_id == mid))).all()
    assert {a.slack_ts for a in second if a.business_date.day == 2} == {posts[1].ts}
    assert not [r for r in rows if r.status == "failed"]  # some wait for the pace: not failed


async def test_a_crisis_joining_the_days_message_is_broadcast_with_mentions(rig: Rig) -> None:
    chat, channel = Chat(rig.db), Channel(rig)
    await member(rig, chat)
    await channel.at("10:30", tick=True)
    (post,) = channel.posts()
    ts = str(post.ts)
    await chat.send("u-yamada", jst(DAY, "10:50"), text="もう死にたいです")
    await channel.at("10:50")
    assert channel.posts() == [post]  # no second top-level post
    (note,) = channel.notes(ts)
    assert note.args["reply_broadcast"] is True  # seen in the channel, and it pings
    mentions = note.args["blocks"][0]["text"]["text"]
    assert all(f"<@{u}>" in mentions for u in (STAFF1, STAFF2, MANAGER))
    assert "至急" in note.args["text"]
    (update,) = channel.updates(ts)
    sections = [b for b in update.args["blocks"] if b["type"] == "section"]
    assert "【至急】" in sections[1]["text"]["text"]  # the crisis on top
    assert "<@" not in shown(update)  # an update never pings; the note did


async def test_everything_resolved_then_a_new_problem_posts_a_new_message(rig: Rig) -> None:
    chat, channel = Chat(rig.db), Channel(rig)
    await member(rig, chat)
    await channel.at("10:30", tick=True)
    await chat.send("u-yamada", jst(DAY, "10:40"), text="開始 体調4 睡眠7 データ入力")
    await channel.at("10:41", tick=True)  # the missed start is closed by the member's report
    (post,) = channel.posts()
    assert "本人から連絡があり解消" in shown(channel.updates(str(post.ts))[-1])
    await chat.send("u-yamada", jst(DAY, "11:30"), text="相談したいです")
    await channel.at("11:30")
    posts = channel.posts()
    assert len(posts) == 2 and posts[1].ts != post.ts  # it must notify: a message of its own
    assert not channel.notes(str(post.ts))


async def test_an_absence_notice_joining_informs_without_buttons_or_mentions(rig: Rig) -> None:
    chat, channel = Chat(rig.db), Channel(rig)
    mid = await member(rig, chat)
    await channel.at("10:30", tick=True)
    (post,) = channel.posts()
    async with rig.db.transaction() as session:
        absence = await alerting.raise_alert(
            session, facility=await session.get_one(Facility, rig.facility_id),
            member=await session.get_one(Member, mid), day=date(2026, 7, 1), kind="absence",
            level=AlertLevel.INFO, detail="通院のため", key="absence:test", now=jst(DAY, "10:35"),
        )  # fmt: skip
    await channel.at("10:35")
    assert channel.posts() == [post]
    (note,) = channel.notes(str(post.ts))
    assert "<@" not in json.dumps(note.args, ensure_ascii=False)  # informs, pings nobody
    (update,) = channel.updates(str(post.ts))
    assert f"alert:{absence}" not in actions_of(update) and len(actions_of(update)) == 1
    assert "お休みの連絡" in shown(update)
