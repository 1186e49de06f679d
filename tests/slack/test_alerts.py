"""Alerts in the staff channel: posted once, taken by one, closed with a 支援記録."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from adapters.slack.deps import web_client
from adapters.slack.sender import SlackSender
from bot.core import texts
from bot.core.domain import AlertLevel
from bot.core.payloads import DeliveryFailed, from_json
from bot.core.ports import OutboxItem, Outcome
from bot.services import admin, alerting, delivery
from storage.models import Alert, DailyReport, Facility, Member, OutboxMessage, SupportRecord
from tests.slack.conftest import CHANNEL, STAFF1, STAFF2, TEAM, Rig, sample
from tests.slack.fake_slack import Refusal
from tests.support import jst, make_member


async def raise_one(rig: Rig, name: str = "山田 太郎", detail: str = "体調 1") -> int:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, name)
    async with rig.db.transaction() as session:
        member = await session.get_one(Member, mid)
        facility = await session.get_one(Facility, rig.facility_id)
        session.add(
            DailyReport(
                member_id=mid,
                business_date=date(2026, 7, 1),
                mode="zaitaku",
                status="started",
                start_at=jst("2026-07-01", "10:20"),
                health_start=1,
                sleep_hours=4,
                planned_work="データ入力",
                flags={},
                created_at=rig.clock.at,
                updated_at=rig.clock.at,
            )
        )
        alert_id = await alerting.raise_alert(
            session,
            facility=facility,
            member=member,
            day=date(2026, 7, 1),
            kind="low_health",
            level=AlertLevel.URGENT,
            detail=detail,
            key=f"concern:{mid}",
            now=jst("2026-07-01", "10:21"),
        )
    assert alert_id is not None
    return alert_id


def sender(rig: Rig) -> SlackSender:
    return SlackSender(web_client("xoxb-test", rig.fake.url, retries=False), rig.db)


async def deliver(rig: Rig) -> delivery.Flushed:
    """Everything due now, at Slack's pace (a message held back for it goes a second later;
    one sender keeps the pace, the rig's clock stays)."""
    slack, at, total = sender(rig), rig.clock.at, delivery.Flushed()
    for _ in range(120):
        f = await delivery.flush(rig.db, {"slack": slack}, at)
        total = delivery.Flushed(
            total.sent + f.sent, total.retried + f.retried, total.failed + f.failed
        )
        if not f.paced:
            break
        at += timedelta(seconds=1)
    return total


def press(user: str, action_id: str, value: str, ts: str, channel: str = CHANNEL) -> dict[str, Any]:
    body = sample("interactivity/block_actions.json")
    body["user"].update(id=user, team_id=TEAM)
    body["team"]["id"] = TEAM
    body["channel"]["id"] = channel
    body["container"].update(channel_id=channel, message_ts=ts, is_ephemeral=False)
    body["actions"][0].update(action_id=action_id, value=value, block_id=f"alert:{value}")
    return body


async def test_alert_is_posted_with_answers_and_buttons_and_its_ts_kept(rig: Rig) -> None:
    alert_id = await raise_one(rig, name="<@U999> 太郎")
    assert (await deliver(rig)).sent == 1
    (post,) = rig.fake.of("chat.postMessage")
    assert post.args["channel"] == CHANNEL
    text = json.dumps(post.args["blocks"], ensure_ascii=False)
    assert "体調がすぐれないとの回答" in text and "&lt;@U999&gt; 太郎さん" in text
    assert "<@U999>" not in text and "<@U999>" not in post.args["text"]  # nor in the ping
    assert "*発生*\\n7/1(水) 10:21" in text
    assert "1 悪い" in text and "4時間" in text and "データ入力" in text  # latest answers
    buttons = [e for b in post.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == [
        "対応します",
        "メッセージを送る",
        "電話・ビデオを記録",
        "対応済み",
    ]
    async with rig.db.transaction() as session:
        alert = await session.get_one(Alert, alert_id)
        row = (await session.execute(select(OutboxMessage))).scalar_one()
    assert (alert.slack_channel, alert.slack_ts) == (CHANNEL, row.external_id)
    assert row.status == "sent" and row.external_id
    # a second flush (or a replica) never posts it again
    assert (await deliver(rig)).sent == 0
    assert len(rig.fake.of("chat.postMessage")) == 1


async def test_minimal_disclosure_posts_who_and_what_kind_but_no_answers(rig: Rig) -> None:
    """A facility that keeps health details off Slack (APPI): the alert names the member and
    the kind of concern, never the detail nor the day's answers."""
    async with rig.db.transaction() as session:
        (await session.get_one(Facility, rig.facility_id)).disclosure = "minimal"
    await raise_one(rig, detail="体調 1: 頭痛がひどい")
    assert (await deliver(rig)).sent == 1
    (post,) = rig.fake.of("chat.postMessage")
    text = json.dumps(post.args, ensure_ascii=False)
    assert "体調がすぐれないとの回答" in text and "山田 太郎さん" in text
    assert "頭痛" not in text and "4時間" not in text and "データ入力" not in text
    async with rig.db.transaction() as session:
        row = (await session.execute(select(OutboxMessage))).scalar_one()
    assert "頭痛" not in json.dumps(row.payload, ensure_ascii=False)


async def test_two_staff_press_take_at_once_one_wins_both_see_the_truth(rig: Rig) -> None:
    alert_id = await raise_one(rig)
    await deliver(rig)
    ts = (await _alert(rig, alert_id)).slack_ts
    assert ts is not None
    r1, r2 = await asyncio.gather(
        rig.interact(press(STAFF1, "alert_take", str(alert_id), ts)),
        rig.interact(press(STAFF2, "alert_take", str(alert_id), ts)),
    )
    assert r1.status_code == r2.status_code == 200
    await rig.fake.wait_for("chat.postEphemeral")
    await rig.fake.wait_for("chat.update")
    await rig.fake.settle()
    alert = await _alert(rig, alert_id)
    assert alert.state == "acked"
    async with rig.db.transaction() as session:
        records = (await session.execute(select(SupportRecord))).scalars().all()
        staff_names = {1: "佐藤 花子", 2: "鈴木 一郎"}
    assert len(records) == 1 and records[0].kind == "alert_action"
    assert records[0].staff_id == alert.acked_by
    winner = staff_names[alert.acked_by or 0]
    loser_id = STAFF2 if alert.acked_by == 1 else STAFF1
    (eph,) = rig.fake.of("chat.postEphemeral")
    assert eph.args["user"] == loser_id
    assert f"すでに{winner}さんが対応しています" in eph.args["text"]
    updates = rig.fake.of("chat.update")
    assert updates and all(u.args["ts"] == ts and u.args["channel"] == CHANNEL for u in updates)
    last = json.dumps(updates[-1].args["blocks"], ensure_ascii=False)
    assert f"{winner}さんが対応中" in last and "対応します" not in last and "対応済み" in last


async def _alert(rig: Rig, alert_id: int) -> Alert:
    async with rig.db.transaction() as session:
        return await session.get_one(Alert, alert_id)


async def test_done_opens_a_form_and_submitting_it_resolves_the_alert(rig: Rig) -> None:
    alert_id = await raise_one(rig)
    await deliver(rig)
    ts = (await _alert(rig, alert_id)).slack_ts or ""
    await rig.interact(press(STAFF1, "alert_resolve", str(alert_id), ts))
    (opened,) = await rig.fake.wait_for("views.open")
    view = opened.args["view"]
    assert view["type"] == "modal" and len(view["title"]["text"]) <= 24
    submission = sample("interactivity/view_submission.json")
    submission["user"].update(id=STAFF1, team_id=TEAM)
    submission["team"]["id"] = TEAM
    submission["view"].update(
        callback_id=view["callback_id"],
        private_metadata=view["private_metadata"],
        blocks=view["blocks"],
        state={
            "values": {
                "method": {
                    "method": {"type": "static_select", "selected_option": {"value": "電話"}}
                },
                "outcome": {
                    "outcome": {"type": "plain_text_input", "value": "電話で様子を確認 <@U1>"}
                },
            }
        },
    )
    resp = await rig.interact(submission)
    assert resp.status_code == 200
    await rig.fake.wait_for("chat.update")
    await rig.fake.settle()
    alert = await _alert(rig, alert_id)
    assert alert.state == "resolved" and alert.resolved_by == alert.acked_by == 1
    async with rig.db.transaction() as session:
        record = (await session.execute(select(SupportRecord))).scalar_one()
    assert (record.kind, record.channel, record.staff_id) == ("alert_action", "phone", 1)
    assert "電話で様子を確認" in record.content
    update = json.dumps(rig.fake.of("chat.update")[-1].args["blocks"], ensure_ascii=False)
    assert "佐藤 花子さんが対応済み" in update and "&lt;@U1&gt;" in update
    assert '"type": "actions"' not in update


async def test_an_empty_outcome_keeps_the_form_open(rig: Rig) -> None:
    alert_id = await raise_one(rig)
    submission = sample("interactivity/view_submission.json")
    submission["user"]["id"] = STAFF1
    submission["view"].update(
        callback_id="alert_resolve_view",
        private_metadata=json.dumps({"alert_id": alert_id, "channel": CHANNEL, "ts": None}),
        state={
            "values": {
                "method": {"method": {"selected_option": {"value": "電話"}}},
                "outcome": {"outcome": {"value": "  "}},
            }
        },
    )
    resp = await rig.interact(submission)
    assert resp.json()["response_action"] == "errors"
    assert (await _alert(rig, alert_id)).state == "open"


async def test_429_is_retried_after_slacks_retry_after(rig: Rig) -> None:
    await raise_one(rig)
    rig.fake.fail(
        "chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}
    )
    async with rig.db.transaction() as session:
        row = (await session.execute(select(OutboxMessage))).scalar_one()
        item = _item(row)
    result = await sender(rig).send(item, rig.clock.at)
    assert result.outcome is Outcome.RETRY and result.retry_after == 7


async def test_a_plain_text_outage_page_is_retried_after_its_retry_after(rig: Rig) -> None:
    """A proxy in front of Slack answers 503 text/plain: still a retry, when it says."""
    await raise_one(rig)
    rig.fake.refuse(
        "chat.postMessage",
        Refusal(503, "upstream connect error", {"Retry-After": "60"}, media_type="text/plain"),
    )
    async with rig.db.transaction() as session:
        item = _item((await session.execute(select(OutboxMessage))).scalar_one())
    result = await sender(rig).send(item, rig.clock.at)
    assert result.outcome is Outcome.RETRY and result.retry_after == 60
    assert result.error == "503"


async def test_a_retry_after_a_lost_answer_does_not_post_twice(rig: Rig) -> None:
    alert_id = await raise_one(rig)
    rig.fake.lose("chat.postMessage")  # the message lands, the answer is lost
    first = await deliver(rig)
    assert first.retried == 1
    rig.clock.at = jst("2026-07-01", "11:05")
    second = await deliver(rig)
    assert second.sent == 1
    assert len(rig.fake.of("chat.postMessage")) == 1
    assert rig.fake.of("conversations.history")
    alert = await _alert(rig, alert_id)
    assert alert.slack_ts == rig.fake.history[CHANNEL][0]["ts"]


async def test_delivery_failures_go_to_the_members_facility_channel(rig: Rig) -> None:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at)
    async with rig.db.transaction() as session:
        from storage import repo

        await repo.enqueue(
            session,
            key="delivery-failed:1",
            platform="slack",
            recipient="",
            payload=DeliveryFailed(outbox_id=1, member_id=mid, text="送信ID 1: <broken>"),
            member_id=mid,
            now=rig.clock.at,
        )
    assert (await deliver(rig)).sent == 1
    (post,) = rig.fake.of("chat.postMessage")
    assert post.args["channel"] == CHANNEL
    assert "届きませんでした" in post.args["text"]
    assert "&lt;broken&gt;" in json.dumps(post.args["blocks"], ensure_ascii=False)


def _item(row: OutboxMessage) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        key=row.key,
        platform=row.platform,
        recipient=row.recipient,
        payload=from_json(row.payload),
        retry_key=row.retry_key,
        attempts=row.attempts,
        member_id=row.member_id,
    )


async def test_staff_of_another_facility_and_strangers_cannot_act_on_an_alert(rig: Rig) -> None:
    alert_id = await raise_one(rig)
    await deliver(rig)
    ts = (await _alert(rig, alert_id)).slack_ts or ""
    async with rig.db.transaction() as session:
        other = await admin.init_facility(session, name="別の事業所", now=rig.clock.at)
        await admin.add_staff(
            session, other, name="他 職員", slack_user="U_OTHER", role="manager", now=rig.clock.at
        )
    await rig.interact(press("U_OTHER", "alert_take", str(alert_id), ts))
    await rig.interact(press("U_STRANGER", "alert_take", str(alert_id), ts))
    await rig.interact(press("U_OTHER", "alert_resolve", str(alert_id), ts))
    replies = await rig.fake.wait_for("chat.postEphemeral", 3)
    assert sorted(r.args["text"] for r in replies) == sorted(
        [texts.ALERT_NOT_YOURS, texts.ALERT_NOT_YOURS, texts.SLACK_NOT_STAFF]
    )
    assert (await _alert(rig, alert_id)).state == "open"
    assert not rig.fake.of("chat.update") and not rig.fake.of("views.open")


async def test_an_alert_for_a_facility_without_a_channel_is_not_posted_elsewhere(rig: Rig) -> None:
    async with rig.db.transaction() as session:
        other = await admin.init_facility(session, name="別の事業所", now=rig.clock.at)
        other_id = other.id
    mid = await make_member(rig.db, other_id, rig.clock.at, "田中 次郎")
    async with rig.db.transaction() as session:
        await alerting.raise_alert(
            session,
            facility=await session.get_one(Facility, other_id),
            member=await session.get_one(Member, mid),
            day=date(2026, 7, 1),
            kind="consult",
            level=AlertLevel.WARNING,
            detail="",
            key="k-other",
            now=rig.clock.at,
        )
    assert (await deliver(rig)).failed == 1
    assert not rig.fake.of("chat.postMessage")


async def test_taking_from_nippo_alerts_updates_the_channel_message_and_app_home(
    rig: Rig,
) -> None:
    alert_id = await raise_one(rig)
    await deliver(rig)
    channel_ts = (await _alert(rig, alert_id)).slack_ts
    await rig.command(STAFF1, "alerts", channel="C_STAFF")
    (listing,) = await rig.fake.wait_for("chat.postEphemeral")
    assert "対応します" in json.dumps(listing.args["blocks"], ensure_ascii=False)
    pressed = press(STAFF1, "alert_take", str(alert_id), "", channel="C_STAFF")
    pressed["container"].update(is_ephemeral=True, message_ts="1700000099.000001")
    await rig.interact(pressed)
    (update,) = await rig.fake.wait_for("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (CHANNEL, channel_ts)
    # pressing again on the now resolved-or-taken alert tells the truth
    async with rig.db.transaction() as session:
        alert = await session.get_one(Alert, alert_id)
        alert.state = "resolved"
    await rig.interact(press(STAFF2, "alert_take", str(alert_id), channel_ts or ""))
    eph = await rig.fake.wait_for("chat.postEphemeral", 2)
    assert eph[-1].args["text"] == texts.ALERT_ALREADY_DONE
    home = sample("events/message_channel.json")
    home["team_id"], home["event_id"] = TEAM, "EvHOME"
    home["event"] = {"type": "app_home_opened", "user": STAFF1, "tab": "home"}
    async with rig.db.transaction() as session:
        alert = await session.get_one(Alert, alert_id)
        alert.state = "acked"
    await rig.event(home)
    (view,) = await rig.fake.wait_for("views.publish")
    mine = json.dumps(view.args["view"], ensure_ascii=False)
    assert "あなたが対応中のアラート" in mine and "体調がすぐれないとの回答" in mine


async def raise_many(rig: Rig, n: int, start: int = 0) -> list[int]:
    ids = []
    for i in range(start, start + n):
        mid = await make_member(rig.db, rig.facility_id, rig.clock.at, f"利用者{i} 花")
        async with rig.db.transaction() as session:
            alert_id = await alerting.raise_alert(
                session,
                facility=await session.get_one(Facility, rig.facility_id),
                member=await session.get_one(Member, mid),
                day=date(2026, 7, 1),
                kind="missed_start",
                level=AlertLevel.WARNING,
                detail="",
                key=f"missed:{mid}",
                now=rig.clock.at,
            )
        assert alert_id is not None
        ids.append(alert_id)
    return ids


def menus(blocks: list[dict[str, Any]]) -> dict[str, list[str]]:
    """A digest's lines: block id -> the labels of its overflow menu."""
    return {
        b["block_id"]: [o["text"]["text"] for o in b["accessory"]["options"]]
        for b in blocks
        if b.get("accessory", {}).get("type") == "overflow"
    }


async def test_alerts_that_come_at_once_are_one_digest_with_actions_each(rig: Rig) -> None:
    ids = await raise_many(rig, 4)
    flushed = await deliver(rig)
    assert flushed.sent == 1 and flushed.retried == flushed.failed == 0
    (post,) = rig.fake.of("chat.postMessage")
    assert "アラートが 4件" in post.args["text"]
    assert list(menus(post.args["blocks"])) == [f"alert:{i}" for i in ids]
    async with rig.db.transaction() as session:
        rows = (await session.execute(select(OutboxMessage))).scalars().all()
        alerts = (await session.execute(select(Alert))).scalars().all()
    assert {(r.status, r.external_id) for r in rows} == {("sent", alerts[0].slack_ts)}
    assert len({a.slack_ts for a in alerts}) == 1
    # taking one alert re-renders the whole digest: the others keep their 対応します
    await rig.interact(press(STAFF1, "alert_take", str(ids[1]), alerts[0].slack_ts or ""))
    (update,) = await rig.fake.wait_for("chat.update")
    blocks = update.args["blocks"]
    still_open = [b for b, labels in menus(blocks).items() if texts.ALERT_TAKE in labels]
    assert still_open == [f"alert:{i}" for i in (ids[0], ids[2], ids[3])]
    assert "佐藤 花子さんが対応中" in json.dumps(blocks, ensure_ascii=False)


async def test_a_lost_digest_is_not_posted_again_nor_claims_later_alerts(rig: Rig) -> None:
    await raise_many(rig, 3)
    rig.fake.lose("chat.postMessage")
    assert (await deliver(rig)).retried == 1
    late = await raise_many(rig, 1, start=10)  # arrives while the digest's fate is unknown
    rig.clock.at = jst("2026-07-01", "11:05")
    await deliver(rig)
    posts = rig.fake.of("chat.postMessage")
    # the digest once (found again in the history); the late one joins it in its own turn
    # (a recent digest is updated in place), with a note in its thread
    assert len(posts) == 2
    assert "アラートが 3件" in posts[0].args["text"]
    digest_ts = rig.fake.history[CHANNEL][-1]["ts"]
    assert posts[1].args["thread_ts"] == digest_ts
    (update,) = rig.fake.of("chat.update")
    assert update.args["ts"] == digest_ts and "アラートが 4件" in update.args["text"]
    assert (await _alert(rig, late[0])).slack_ts == digest_ts


async def test_an_absence_notice_informs_without_buttons_or_mentions(rig: Rig) -> None:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    async with rig.db.transaction() as session:
        member = await session.get_one(Member, mid)
        member.primary_staff_id = 1  # someone an alert would ping
        facility = await session.get_one(Facility, rig.facility_id)
        await alerting.raise_alert(
            session, facility=facility, member=member, day=date(2026, 7, 1), kind="absence",
            level=AlertLevel.INFO, detail="通院のため", key="absence:1", now=rig.clock.at,
        )  # fmt: skip
    assert (await deliver(rig)).sent == 1
    (post,) = rig.fake.of("chat.postMessage")
    assert "山田 太郎さん" in json.dumps(post.args["blocks"], ensure_ascii=False)
    assert [b for b in post.args["blocks"] if b["type"] == "actions"] == []
    assert "<@" not in json.dumps(post.args, ensure_ascii=False)
