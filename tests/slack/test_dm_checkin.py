"""A member who uses Slack instead of LINE links the account and checks in by DM buttons."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from sqlalchemy import select

from adapters.slack.checkin import SlackPlatform
from bot.services import inbox
from storage import repo
from storage.db import Database
from storage.models import DailyReport, InboxEvent, OutboxMessage, SupportRecord
from tests.slack.conftest import STAFF1, TEAM, Rig, sample
from tests.slack.fake_slack import Call
from tests.support import Recorder, jst, link_code, make_member

MEMBER = "U_MEMBER1"
_ids = iter(range(1, 10_000))


async def process_pending(db: Database, now: datetime) -> int:
    """A pass over the pending Slack rows: the one inbox service with Slack's plug-in."""
    return await inbox.process_pending(db, now, SlackPlatform(Recorder()))


def dm(text: str, at: datetime) -> dict[str, Any]:
    body = sample("events/message_channel.json")
    body["team_id"] = TEAM
    body["event_id"] = f"EvDM{next(_ids)}"
    body["event"].update(
        user=MEMBER, text=text, channel="D" + MEMBER, channel_type="im", ts=f"{at.timestamp():.6f}"
    )
    return body


def tap(value: str, label: str, at: datetime, shown: Call | None = None) -> dict[str, Any]:
    body = sample("interactivity/block_actions.json")
    body["user"].update(id=MEMBER, team_id=TEAM)
    body["team"]["id"] = TEAM
    body["channel"]["id"] = "D" + MEMBER
    body["container"].update(channel_id="D" + MEMBER, is_ephemeral=False)
    body["actions"][0].update(
        action_id="checkin:0",
        block_id="checkin:0",
        value=value,
        text={"type": "plain_text", "text": label},
        action_ts=f"{at.timestamp() + next(_ids) / 1000:.6f}",  # each press has its own
    )
    if shown is not None:  # pressed on a message we posted: Slack sends that message along
        block_id = next(b["block_id"] for b in shown.args["blocks"] if b["type"] == "actions")
        body["actions"][0]["block_id"] = block_id
        body["container"]["message_ts"] = "1700000000.000001"
        body["message"] = {
            "type": "message",
            "text": shown.args["text"],
            "blocks": shown.args["blocks"],
        }
    return body


def buttons(call: Call) -> dict[str, str]:
    """The buttons of a recorded DM as label → value."""
    return {
        e["text"]["text"]: e["value"]
        for b in call.args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    }


async def exchange(rig: Rig, payload: dict[str, Any], interactive: bool = False) -> Call:
    before = len(rig.fake.of("chat.postMessage"))
    resp = await (rig.interact(payload) if interactive else rig.event(payload))
    assert resp.status_code == 200
    posts = await rig.fake.wait_for("chat.postMessage", before + 1)
    return posts[-1]


async def test_a_member_links_and_checks_in_by_dm(rig: Rig) -> None:
    at = jst("2026-07-01", "10:05")
    rig.clock.at = at
    mid = await make_member(rig.db, rig.facility_id, at, "山田 太郎")
    code = await link_code(rig.db, mid, at)

    hello = await exchange(rig, dm("こんにちは", at))
    assert hello.args["channel"] == "D" + MEMBER and "6桁" in hello.args["text"]
    assert rig.fake.of("conversations.open")[0].args["users"] == MEMBER

    linked = await exchange(rig, dm(code, at))
    assert "山田 太郎さん、登録できました" in linked.args["text"]
    start = buttons(linked)["開始します"]
    assert start == "2026-07-01|start"  # the button carries the business date it was shown for

    health = await exchange(rig, tap(start, "開始します", at, shown=linked), interactive=True)
    (marked,) = rig.fake.of("chat.update")
    shown = json.dumps(marked.args["blocks"], ensure_ascii=False)
    assert "✔ 開始します" in shown and '"type": "actions"' not in shown
    assert "体調" in health.args["text"]
    good = "🙂 4 良い"
    sleep = await exchange(rig, tap(buttons(health)[good], good, at), interactive=True)
    plan = await exchange(rig, tap(buttons(sleep)["7時間"], "7時間", at), interactive=True)
    done = await exchange(rig, dm("データ入力を50件", at))
    assert done.args["text"].startswith("10:05 開始を記録しました")
    assert plan.args["channel"] == "D" + MEMBER

    async with rig.db.transaction() as session:
        report = (await session.execute(select(DailyReport))).scalar_one()
        records = (await session.execute(select(SupportRecord))).scalars().all()
    assert report.status == "started" and report.health_start == 4 and report.sleep_hours == 7
    assert report.start_at is not None
    assert [r.kind for r in records] == ["start_check"] and records[0].channel == "slack"

    # the staff board now shows the member as working
    await rig.command(STAFF1, "status")
    (board,) = await rig.fake.wait_for("chat.postEphemeral")
    assert "作業中" in json.dumps(board.args["blocks"], ensure_ascii=False)


async def test_yesterdays_button_is_not_applied_to_today(rig: Rig) -> None:
    at = jst("2026-07-01", "10:05")
    rig.clock.at = at
    mid = await make_member(rig.db, rig.facility_id, at, "山田 太郎")
    await exchange(rig, dm(await link_code(rig.db, mid, at), at))
    stale = await exchange(rig, tap("2026-06-30|start", "開始します", at), interactive=True)
    assert "前の日のもの" in stale.args["text"]
    assert buttons(stale)["開始します"] == "2026-07-01|start"
    async with rig.db.transaction() as session:
        assert (await session.execute(select(DailyReport))).first() is None


async def test_a_repeated_button_press_counts_once(rig: Rig) -> None:
    at = jst("2026-07-01", "10:05")
    rig.clock.at = at
    mid = await make_member(rig.db, rig.facility_id, at, "山田 太郎")
    await exchange(rig, dm(await link_code(rig.db, mid, at), at))
    press = tap("2026-07-01|absent", "今日は休みます", at)
    await exchange(rig, press, interactive=True)
    await rig.interact(press)  # the same action_ts again
    await rig.fake.settle(quiet=1.0)
    absence = [c for c in rig.fake.of("chat.postMessage") if "休んで" in c.args["text"]]
    assert len(absence) == 1


async def test_app_home_shows_the_board_to_staff_and_nothing_to_others(rig: Rig) -> None:
    await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    for user in (STAFF1, "U_STRANGER"):
        event = sample("events/message_channel.json")
        event["team_id"], event["event_id"] = TEAM, f"EvHOME{user}"
        event["event"] = {
            "type": "app_home_opened",
            "user": user,
            "channel": "D1",
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        assert (await rig.event(event)).status_code == 200
    published = await rig.fake.wait_for("views.publish", 2)
    views = {c.args["user_id"]: json.dumps(c.args["view"], ensure_ascii=False) for c in published}
    assert "山田 太郎" in views[STAFF1] and "あなたが対応中のアラート" in views[STAFF1]
    assert "山田" not in views["U_STRANGER"] and "登録済みの職員だけ" in views["U_STRANGER"]


async def test_an_event_stored_but_not_handled_is_picked_up_later(rig: Rig) -> None:
    """A crash after the ack leaves a pending inbox row; the loop handles it once."""
    stored_at = jst("2026-07-01", "10:00")
    async with rig.db.transaction() as session:
        body = dm("こんにちは", stored_at)
        await repo.add_inbox(session, "slack", f"{TEAM}:{body['event_id']}", body, stored_at)
    rig.clock.at = jst("2026-07-01", "10:05")
    slack_pass = rig.app.state.inbox_processors["slack"]  # what the scheduler loop calls
    assert await slack_pass(rig.clock.at, None) == 1
    assert await process_pending(rig.db, rig.clock.at) == 0
    async with rig.db.transaction() as session:
        row = (await session.execute(select(InboxEvent))).scalar_one()
        reply = (await session.execute(select(OutboxMessage))).scalar_one()
    assert row.status == "done" and reply.recipient == MEMBER


async def test_a_file_without_words_gets_a_gentle_answer_and_today_s_buttons(rig: Rig) -> None:
    at = jst("2026-07-01", "10:05")
    rig.clock.at = at
    mid = await make_member(rig.db, rig.facility_id, at, "山田 太郎")
    await exchange(rig, dm(await link_code(rig.db, mid, at), at))
    photo = dm("", at)
    photo["event"].update(subtype="file_share", files=[{"id": "F1", "name": "photo.jpg"}])
    answer = await exchange(rig, photo)
    assert "この種類のメッセージには対応していません" in answer.args["text"]
    assert "開始します" in buttons(answer)


async def test_staff_writing_to_the_bot_are_pointed_to_nippo_not_asked_for_a_code(rig: Rig) -> None:
    body = dm("こんにちは", rig.clock.at)
    body["event"]["user"] = STAFF1
    await rig.event(body)
    (answer,) = await rig.fake.wait_for("chat.postMessage")
    assert answer.args["channel"] == "D" + STAFF1
    assert "/nippo help" in answer.args["text"] and "6桁" not in answer.args["text"]


async def test_an_unreadable_stored_event_is_marked_failed_not_retried(rig: Rig) -> None:
    stored_at = jst("2026-07-01", "10:00")
    body = dm("こんにちは", stored_at)
    body["event"].pop("user")  # nothing to answer to
    async with rig.db.transaction() as session:
        inbox_id = await repo.add_inbox(session, "slack", "T111:EvBAD", body, stored_at)
    rig.clock.at = jst("2026-07-01", "10:05")
    assert await process_pending(rig.db, rig.clock.at) == 0
    async with rig.db.transaction() as session:
        row = await session.get_one(InboxEvent, inbox_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert await process_pending(rig.db, rig.clock.at) == 0
