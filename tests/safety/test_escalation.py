"""Alerts that escalate until someone acts (issue #15), end to end: a member on Slack DM
writes 「もう死にたいです」, the 【至急】 alert and its re-notifications reach the fake Slack API
with real mentions, taking it stops them and tells the member once, the digest lists it until
it is resolved, and two replicas ticking at once send each re-notification once."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

from sqlalchemy import select

from bot.core.domain import AlertLevel, DayMode
from bot.services import admin, alerting, ticks
from bot.services.admin import ScheduleSpec
from storage.db import Database
from storage.models import Alert, Facility, Member, OutboxMessage, Staff
from tests.slack.conftest import CHANNEL, MANAGER, STAFF1, STAFF2, TEAM, Rig, sample
from tests.slack.fake_slack import Call
from tests.slack.test_alerts import deliver, press
from tests.slack.test_dm_checkin import MEMBER, dm, exchange
from tests.support import Chat, jst, link_code, make_member

DAY = "2026-07-01"  # a Wednesday


def body(call: Call) -> str:
    """What Slack received in a message's blocks, as the JSON it parses."""
    return json.dumps(call.args["blocks"], ensure_ascii=False)


def channel_posts(rig: Rig, prefix: str = "") -> list[Call]:
    """Messages to the alert channel (only those whose outbox key starts with `prefix`)."""
    return [
        c
        for c in rig.fake.of("chat.postMessage")
        if c.args["channel"] == CHANNEL
        and c.args["metadata"]["event_payload"]["key"].startswith(prefix)
    ]


async def quiet_member(rig: Rig, name: str) -> int:
    """A member with no 在宅 day: no reminders, no missed-contact ladder, no evaluations due."""
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, name)
    async with rig.db.transaction() as session:
        member = await session.get_one(Member, mid)
        await admin.set_schedule(
            session, member, ScheduleSpec(tuple(range(7)), DayMode.OFF, None, None)
        )
    return mid


def dm_posts(rig: Rig) -> list[Call]:
    return [c for c in rig.fake.of("chat.postMessage") if c.args["channel"] == "D" + MEMBER]


async def assign(rig: Rig, member_id: int, primary: str, substitute: str) -> None:
    async with rig.db.transaction() as session:
        staff = {s.slack_user_id: s.id for s in (await session.scalars(select(Staff))).all()}
        member = await session.get_one(Member, member_id)
        member.primary_staff_id, member.substitute_staff_id = staff[primary], staff[substitute]


async def linked_member(rig: Rig) -> int:
    """山田 太郎 on Slack DM, 担当 STAFF1, 代理 STAFF2; no 在宅 days (no ladder by day)."""
    at = jst(DAY, "09:00")
    rig.clock.at = at
    mid = await quiet_member(rig, "山田 太郎")
    await assign(rig, mid, STAFF1, STAFF2)
    await exchange(rig, dm(await link_code(rig.db, mid, at), at))
    return mid


async def crisis(rig: Rig) -> int:
    """The member writes 「もう死にたいです」 at 10:00; the 【至急】 alert is posted at once."""
    at = jst(DAY, "10:00")
    rig.clock.at = at
    await exchange(rig, dm("もう死にたいです", at))
    async with rig.db.transaction() as session:
        alert = (await session.scalars(select(Alert))).one()
    assert (alert.kind, alert.level, alert.state) == ("crisis", "crisis", "open")
    await deliver(rig)
    return alert.id


async def tick_and_deliver(rig: Rig, hhmm: str, day: str = DAY) -> list[str]:
    rig.clock.at = jst(day, hhmm)
    summary = await ticks.tick(rig.db, rig.clock.at)
    await deliver(rig)
    return summary.renotified


async def test_a_crisis_renotifies_until_taken_and_the_member_hears_once(rig: Rig) -> None:
    await linked_member(rig)
    alert_id = await crisis(rig)
    (first,) = channel_posts(rig)
    assert (
        "【至急】命に関わるおそれのあるメッセージ" in body(first) and "至急" in first.args["text"]
    )
    # the 担当, the 代理 and every manager, as real mentions
    assert first.args["blocks"][0]["text"]["text"] == f"<@{STAFF1}> <@{STAFF2}> <@{MANAGER}>"
    assert "&lt;@" not in body(first)

    assert await tick_and_deliver(rig, "10:05") == []
    assert await tick_and_deliver(rig, "10:10") == [f"renotify:{alert_id}:1"]
    assert await tick_and_deliver(rig, "10:10") == []  # a repeated tick: nothing again
    assert await tick_and_deliver(rig, "10:20") == [f"renotify:{alert_id}:2"]
    assert await tick_and_deliver(rig, "10:49") == []
    assert await tick_and_deliver(rig, "10:50") == [f"renotify:{alert_id}:3"]
    posts = channel_posts(rig)
    assert len(posts) == 4  # the alert, then three new messages
    again = posts[1:]
    mentions = [p.args["blocks"][0]["text"]["text"] for p in again]
    assert mentions == [
        f"<@{STAFF1}> <@{STAFF2}>",  # +10: the member's own staff
        f"<@{STAFF1}> <@{STAFF2}> <@{MANAGER}>",  # +20: and every manager
        f"<@{STAFF1}> <@{STAFF2}> <@{MANAGER}>",  # +50: again, every 30 minutes
    ]
    for post, minutes in zip(again, ("10分", "20分", "50分"), strict=True):
        text = body(post)
        assert "&lt;@" not in text and "至急" in text and f"発生から{minutes}" in text
        assert "命に関わるおそれのあるメッセージ" in text
        actions = [b for b in post.args["blocks"] if b["type"] == "actions"]
        buttons = [e["action_id"] for b in actions for e in b["elements"]]
        assert buttons == ["alert_take", "alert_message", "alert_call_log", "alert_resolve"]
        assert post.args["metadata"]["event_payload"]["key"].startswith(f"renotify:{alert_id}:")

    # 「対応します」 on the latest re-notification: taken, and the member is told once.
    ts = str(again[-1].ts)
    await rig.interact(press(STAFF1, "alert_take", str(alert_id), ts))
    await rig.fake.wait_for("chat.update")
    await rig.interact(press(STAFF1, "alert_take", str(alert_id), ts))  # pressed twice
    await rig.fake.settle()
    async with rig.db.transaction() as session:
        alert = await session.get_one(Alert, alert_id)
    assert alert.state == "acked"
    before = len(dm_posts(rig))
    for hhmm in ("11:00", "11:20", "11:50", "12:20", "16:00"):
        assert await tick_and_deliver(rig, hhmm) == []
    assert len(channel_posts(rig)) == 4  # nothing more to the channel
    told = dm_posts(rig)[before:]
    assert [p.args["text"] for p in told if "確認しました" in p.args["text"]] == [
        told[0].args["text"]
    ]
    assert len(told) == 1 and told[0].args["text"].startswith("佐藤 花子さんが確認しました")
    assert "このあと連絡します" in told[0].args["text"]


async def test_the_digest_lists_a_taken_alert_until_it_is_resolved(rig: Rig) -> None:
    await linked_member(rig)
    alert_id = await crisis(rig)
    await rig.interact(press(STAFF2, "alert_take", str(alert_id), ""))
    await rig.fake.settle()
    await tick_and_deliver(rig, "16:30")
    digest = channel_posts(rig)[-1]
    text = body(digest)
    assert "本日のまとめ" in text and "未解決のアラート 1件" in text
    assert "🆘 至急" in text and "山田 太郎さん: 命に関わるおそれのあるメッセージ" in text
    assert "鈴木 一郎さんが対応中" in text

    # the next day it is still there: taken, not resolved
    await tick_and_deliver(rig, "16:30", "2026-07-02")
    assert "命に関わるおそれのあるメッセージ" in body(channel_posts(rig)[-1])

    await resolve(rig, alert_id, STAFF2)
    posted = len(channel_posts(rig))
    await tick_and_deliver(rig, "16:30", "2026-07-03")
    async with rig.db.transaction() as session:
        row = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.key.like("digest:%:2026-07-03"))
            )
        ).one()
    # nobody 在宅 and nothing unresolved: nothing to tell staff that day
    assert row.payload["alerts"] == [] and row.status == "skipped"
    assert len(channel_posts(rig)) == posted


async def test_notices_are_not_listed_as_open_alerts_day_after_day(rig: Rig) -> None:
    """An absence notice needs nobody to act: it was told once, and does not fill digests."""
    await raise_direct(rig, "利用者1 花", AlertLevel.INFO, "absence")
    await raise_direct(rig, "利用者2 花", AlertLevel.WARNING, "low_health")
    await tick_and_deliver(rig, "16:30", "2026-07-02")
    text = body(channel_posts(rig)[-1])
    assert "未解決のアラート 1件" in text and "利用者2 花さん" in text
    assert "お休みの連絡" not in text


async def resolve(rig: Rig, alert_id: int, user: str) -> None:
    submission = sample("interactivity/view_submission.json")
    submission["user"].update(id=user, team_id=TEAM)
    submission["team"]["id"] = TEAM
    submission["view"].update(
        callback_id="alert_resolve_view",
        private_metadata=json.dumps({"alert_id": alert_id, "channel": CHANNEL, "ts": None}),
        state={
            "values": {
                "method": {"method": {"selected_option": {"value": "電話"}}},
                "outcome": {"outcome": {"value": "電話で話し、落ち着いたとのこと"}},
            }
        },
    )
    await rig.interact(submission)
    await rig.fake.settle()
    async with rig.db.transaction() as session:
        assert (await session.get_one(Alert, alert_id)).state == "resolved"


async def raise_direct(rig: Rig, name: str, level: AlertLevel, kind: str) -> int:
    mid = await quiet_member(rig, name)
    async with rig.db.transaction() as session:
        alert_id = await alerting.raise_alert(
            session,
            facility=await session.get_one(Facility, rig.facility_id),
            member=await session.get_one(Member, mid),
            day=date(2026, 7, 1),
            kind=kind,
            level=level,
            detail="",
            key=f"test:{mid}",
            now=rig.clock.at,
        )
    assert alert_id is not None
    return alert_id


async def test_a_crisis_is_never_folded_into_a_digest_of_alerts(rig: Rig) -> None:
    w1 = await raise_direct(rig, "利用者1 花", AlertLevel.WARNING, "missed_start")
    c = await raise_direct(rig, "利用者2 花", AlertLevel.CRISIS, "crisis")
    w2 = await raise_direct(rig, "利用者3 花", AlertLevel.WARNING, "missed_start")
    w3 = await raise_direct(rig, "利用者4 花", AlertLevel.WARNING, "missed_start")
    await deliver(rig)
    await deliver(rig)
    posts = channel_posts(rig)
    assert len(posts) == 2
    digest, alone = posts
    actions = [b["block_id"] for b in digest.args["blocks"] if "accessory" in b]  # its lines
    assert actions == [f"alert:{i}" for i in (w1, w2, w3)]
    assert [b["block_id"] for b in alone.args["blocks"] if b["type"] == "actions"] == [f"alert:{c}"]
    assert "【至急】" in body(alone) and "アラートが" not in alone.args["text"]


async def test_the_phone_call_step_really_mentions_alone_and_in_a_digest(rig: Rig) -> None:
    """Before: the +60 alert put `<@U…>` in its escaped detail (Slack got `&lt;@U…&gt;`) and
    a digest of such alerts mentioned no one."""
    rig.clock.at = jst(DAY, "09:00")
    solo = await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    await assign(rig, solo, STAFF1, STAFF2)
    await tick_and_deliver(rig, "10:30")  # the staff alert (warning), alone
    await tick_and_deliver(rig, "11:00")  # the phone-call alert (urgent): joins the day's
    first, call = channel_posts(rig)  # message, its thread note pings; the update shows it
    assert call.args["thread_ts"] == first.ts
    assert call.args["blocks"][0]["text"]["text"] == f"<@{STAFF1}> <@{STAFF2}> <@{MANAGER}>"
    (update,) = rig.fake.of("chat.update")
    assert update.args["ts"] == first.ts and "電話で確認してください" in body(update)
    assert "&lt;@" not in body(call) + body(update)
    async with rig.db.transaction() as session:  # the mentions were never part of the row
        notify = (await session.scalars(select(OutboxMessage))).all()
    assert notify and all("<@" not in json.dumps(r.payload) for r in notify)

    # three members miss the start of the next day at once: one digest per step
    others = [
        await make_member(rig.db, rig.facility_id, rig.clock.at, f"利用者{i} 花") for i in range(2)
    ]
    await assign(rig, others[0], STAFF2, STAFF2)
    before = len(channel_posts(rig, "notify:"))
    await tick_and_deliver(rig, "11:00", "2026-07-02")  # catches up on both steps for three
    new = channel_posts(rig, "notify:")[before:]
    assert [p.args["text"] for p in new] == ["アラートが 6件 届いています"]
    (digest,) = new
    assert digest.args["blocks"][0]["text"]["text"] == f"<@{STAFF1}> <@{STAFF2}> <@{MANAGER}>"
    assert body(digest).count("電話で確認してください") == 3 and "&lt;@" not in body(digest)


async def test_a_renotification_carries_staff_ids_and_slack_renders_them_when_it_posts(
    rig: Rig,
) -> None:
    """A mention is data: the row names staff, not Slack users, and the adapter pings whoever
    those staff are on Slack when it posts (someone who left meanwhile is not pinged)."""
    await linked_member(rig)
    alert_id = await crisis(rig)
    rig.clock.at = jst(DAY, "10:20")  # the step of +20: the member's staff and the managers
    assert (await ticks.tick(rig.db, rig.clock.at)).renotified == [f"renotify:{alert_id}:2"]
    async with rig.db.transaction() as session:
        staff = {s.slack_user_id: s for s in (await session.scalars(select(Staff))).all()}
        row = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.key == f"renotify:{alert_id}:2")
            )
        ).one()
        stored = json.dumps(row.payload, ensure_ascii=False)
        assert row.payload["mention_staff_ids"] == [staff[u].id for u in (STAFF1, STAFF2, MANAGER)]
        assert "<@" not in stored and "U_" not in stored
        staff[STAFF2].active = False  # 鈴木 leaves before Slack gets the message
    await deliver(rig)
    (post,) = channel_posts(rig, "renotify:")
    assert post.args["blocks"][0] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": f"<@{STAFF1}> <@{MANAGER}>"},
    }
    assert "&lt;@" not in body(post) and f"<@{STAFF2}>" not in body(post)


async def test_a_late_report_edits_the_alert_in_place_as_resolved_by_the_member(
    rig: Rig,
) -> None:
    """The member's own report closes their missed-start alert: the message it was posted in
    is edited (its buttons gone, 「本人から連絡があり解消」), and nothing new is posted."""
    rig.clock.at = jst(DAY, "09:00")
    mids = [
        await make_member(rig.db, rig.facility_id, rig.clock.at, f"利用者{i} 花") for i in range(3)
    ]
    chat = Chat(rig.db)
    await chat.link("u-late", mids[0], rig.clock.at)
    await tick_and_deliver(rig, "10:30")  # three missed starts: one digest
    (digest,) = channel_posts(rig)
    await chat.say("u-late", "開始 体調4 睡眠7 データ入力", jst(DAY, "10:42"))
    await tick_and_deliver(rig, "10:43")  # the late report resolves its alert
    assert channel_posts(rig) == [digest]  # no 「解消しました」 post of its own
    (edit,) = rig.fake.of("chat.update")
    assert (edit.args["channel"], edit.args["ts"]) == (digest.args["channel"], digest.ts)
    async with rig.db.transaction() as session:
        alerts = (await session.scalars(select(Alert).order_by(Alert.id))).all()
    mine = next(a for a in alerts if a.member_id == mids[0])
    text = json.dumps(edit.args["blocks"], ensure_ascii=False)
    assert "✅ 本人から連絡があり解消(10:43)" in text
    assert "✅ さんが対応済み" not in text
    menus = {b["block_id"] for b in edit.args["blocks"] if "accessory" in b}  # digest lines
    assert menus == {f"alert:{a.id}" for a in alerts if a.id != mine.id}  # the others stay
    # taking another one later re-renders the digest the same way
    other = next(a for a in alerts if a.member_id == mids[1])
    await rig.interact(press(STAFF1, "alert_take", str(other.id), str(digest.ts)))
    updates = await rig.fake.wait_for("chat.update", 2)
    assert "✅ 本人から連絡があり解消(10:43)" in json.dumps(updates[-1].args, ensure_ascii=False)


async def test_a_consult_is_renotified_after_its_promise_in_business_hours(rig: Rig) -> None:
    rig.clock.at = jst("2026-07-03", "17:50")  # a Friday, 10 minutes before closing
    alert_id = await raise_direct(rig, "山田 太郎", AlertLevel.WARNING, "consult")
    await deliver(rig)
    for day, hhmm in (("2026-07-03", "18:30"), ("2026-07-04", "10:00"), ("2026-07-06", "09:19")):
        assert await tick_and_deliver(rig, hhmm, day) == []
    assert await tick_and_deliver(rig, "09:20", "2026-07-06") == [f"renotify:{alert_id}:1"]
    post = channel_posts(rig)[-1]
    assert "相談の折り返しがまだです" in body(post) and "営業時間で30分" in body(post)
    assert post.args["blocks"][0]["text"]["text"] == f"<@{MANAGER}>"


async def test_a_renotification_for_an_alert_taken_meanwhile_is_not_posted(rig: Rig) -> None:
    alert_id = await raise_direct(rig, "山田 太郎", AlertLevel.URGENT, "low_health")
    await deliver(rig)
    rig.clock.at += timedelta(minutes=10)
    assert (await ticks.tick(rig.db, rig.clock.at)).renotified == [f"renotify:{alert_id}:1"]
    await rig.interact(press(STAFF1, "alert_take", str(alert_id), ""))  # before delivery
    await rig.fake.settle()
    await deliver(rig)
    assert len(channel_posts(rig)) == 1
    async with rig.db.transaction() as session:
        row = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.key == f"renotify:{alert_id}:1")
            )
        ).one()
    assert row.status == "sent" and row.via == "skipped"


async def test_two_replicas_ticking_at_once_send_each_renotification_once(
    rig: Rig, db_url: str
) -> None:
    ids = [
        await raise_direct(rig, f"利用者{i} 花", level, kind)
        for i, (level, kind) in enumerate(
            [
                (AlertLevel.CRISIS, "crisis"),
                (AlertLevel.URGENT, "fever"),
                (AlertLevel.URGENT, "distress"),
            ]
        )
    ]
    await deliver(rig)
    other = Database(db_url)
    applied: list[str] = []
    try:
        at = rig.clock.at
        for _ in range(81):
            first, second = await asyncio.gather(
                ticks.tick(rig.db, at, elect=False), ticks.tick(other, at, elect=False)
            )
            applied += first.renotified + second.renotified
            at += timedelta(minutes=1)
    finally:
        await other.dispose()
    expected = sorted(f"renotify:{a}:{n}" for a in ids for n in (1, 2, 3, 4))  # +10 +20 +50 +80
    assert sorted(applied) == expected
    rig.clock.at = at
    while (await deliver(rig)).sent:
        pass
    keys = [p.args["metadata"]["event_payload"]["key"] for p in channel_posts(rig)]
    # delivered only now, the steps queued for one alert collapse to its latest (which
    # mentions everyone the earlier ones would): each alert's step 4, once
    latest = sorted(f"renotify:{a}:4" for a in ids)
    assert sorted(k for k in keys if k.startswith("renotify:")) == latest
