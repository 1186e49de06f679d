"""Staff answer a member from an alert (issue #19), end to end: the real app with LINE and
Slack on, signed Slack requests, the fake LINE API and the fake Slack API recording what the
member and the staff were shown.

佐藤 presses 「メッセージを送る」 on 山田's alert, picks a 文例, edits it and sends it: 山田 gets
it on LINE signed 「(佐藤 花子より)」, a 支援記録 (メッセージ, 佐藤, entered then) keeps it, and
山田's answer shows in the alert's thread until the alert is closed."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.core import texts
from bot.services import delivery
from storage.models import Alert, Facility, Identity, SupportRecord
from tests.line.conftest import USER
from tests.line.schema import check_body
from tests.safety.test_linking import NAME, Both, both, linked_phone
from tests.slack.conftest import CHANNEL, STAFF1, TEAM, sample
from tests.slack.fake_slack import Call
from tests.support import jst, make_member

__all__ = ["both"]  # the fixture, shared with the linking tests

DAY = "2026-07-01"
PUSH = "/v2/bot/message/push"


async def deliver(both: Both, at: datetime) -> None:
    """The delivery loop's turn (the tests run without the scheduler)."""
    both.clock.at = at
    await delivery.flush(both.db, both.slack.app.state.senders, at)


async def worried_member(both: Both) -> tuple[int, Alert]:
    """山田 reports 体調 1 at 10:00 on LINE; the alert is posted in the staff channel."""
    mid = await make_member(both.db, both.facility_id, both.clock.at, NAME)
    await linked_phone(both, USER, mid, jst(DAY, "09:00"))
    await both.say(USER, "開始 体調1 睡眠7 データ入力", jst(DAY, "10:00"))
    await deliver(both, jst(DAY, "10:01"))
    async with both.db.transaction() as session:
        alert = (await session.execute(select(Alert).where(Alert.member_id == mid))).scalar_one()
    assert alert.slack_ts is not None
    return mid, alert


def press(alert: Alert, action_id: str) -> dict[str, Any]:
    body = sample("interactivity/block_actions.json")
    body["user"].update(id=STAFF1, team_id=TEAM)
    body["team"]["id"] = TEAM
    body["channel"]["id"] = CHANNEL
    body["container"].update(channel_id=CHANNEL, message_ts=alert.slack_ts, is_ephemeral=False)
    body["actions"][0].update(
        action_id=action_id, value=str(alert.id), block_id=f"alert:{alert.id}"
    )
    return body


def from_view(view: dict[str, Any], kind: str) -> dict[str, Any]:
    """A request from inside a modal Slack shows: the view as opened, with its id and hash."""
    body = sample(
        f"interactivity/{'view_submission' if kind == 'submit' else 'block_actions'}.json"
    )
    body["user"].update(id=STAFF1, team_id=TEAM)
    body["team"]["id"] = TEAM
    body["view"] = {**view, "id": "V_MSG1", "hash": "1700000000.abc", "team_id": TEAM}
    if kind != "submit":
        body["container"] = {"type": "view", "view_id": "V_MSG1"}
        body.pop("channel", None)
    return body


def text_block(view: dict[str, Any]) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b["type"] == "input")


def thread_posts(both: Both, alert: Alert) -> list[Call]:
    return [c for c in both.channel_posts() if c.args.get("thread_ts") == alert.slack_ts]


async def send_from_alert(both: Both, alert: Alert, words: str, where: str = "LINE") -> None:
    """Press, pick the first 文例, edit it, send: each a signed request."""
    assert (await both.slack.interact(press(alert, "alert_message"))).status_code == 200
    (opened,) = await both.slack.fake.wait_for("views.open")
    view = opened.args["view"]
    options = view["blocks"][1]["elements"][0]["options"]
    assert [o["value"] for o in options][:2] == [
        "お電話してもよいですか?",
        "無理せず休んでくださいね",
    ]
    assert f"{where}で" in json.dumps(view["blocks"][0], ensure_ascii=False)  # where it goes

    pick = from_view(view, "action")
    pick["actions"] = [
        {
            "type": "static_select",
            "action_id": "alert_message_template",
            "block_id": "template",
            "selected_option": options[0],
            "action_ts": "1700000001.000001",
        }
    ]
    assert (await both.slack.interact(pick)).status_code == 200
    (update,) = await both.slack.fake.wait_for("views.update")
    assert update.args["view_id"] == "V_MSG1" and update.args["hash"] == "1700000000.abc"
    redrawn = update.args["view"]
    field = text_block(redrawn)
    assert field["element"]["initial_value"] == "お電話してもよいですか?"
    assert field["block_id"] != text_block(view)["block_id"]  # or Slack keeps the old text

    submit = from_view(redrawn, "submit")
    submit["view"]["state"] = {
        "values": {
            field["block_id"]: {"message_text": {"type": "plain_text_input", "value": words}}
        }
    }
    assert (await both.slack.interact(submit)).status_code == 200
    await both.slack.fake.wait_for("chat.postEphemeral")
    await both.slack.fake.settle()


async def test_a_message_from_an_alert_reaches_the_member_on_line_and_is_recorded(
    both: Both,
) -> None:
    mid, alert = await worried_member(both)
    post = next(c for c in both.channel_posts() if c.ts == alert.slack_ts)
    buttons = [
        e["text"]["text"]
        for b in post.args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert buttons == ["対応します", "メッセージを送る", "電話・ビデオを記録", "対応済み"]

    both.clock.at = jst(DAY, "10:05")
    await send_from_alert(both, alert, "お電話してもよいですか? 11時ごろはいかがでしょう")

    pushes = both.line.calls(PUSH)
    assert len(pushes) == 1
    check_body(pushes[0].body, PUSH)
    assert pushes[0].body["to"] == USER
    assert pushes[0].body["messages"] == [
        {
            "type": "text",
            "text": "お電話してもよいですか? 11時ごろはいかがでしょう\n(佐藤 花子より)",
        }
    ]
    assert pushes[0].headers.get("x-line-retry-key")
    (told,) = both.slack.fake.of("chat.postEphemeral")
    assert told.args["user"] == STAFF1
    assert told.args["text"] == texts.STAFF_MESSAGE_SENT.format(name=NAME)

    async with both.db.transaction() as session:
        (record,) = (
            await session.scalars(
                select(SupportRecord).where(
                    SupportRecord.member_id == mid, SupportRecord.kind == "staff_contact"
                )
            )
        ).all()
    assert (record.channel, record.staff_id, record.entered_by) == ("message", 1, "staff:1")
    assert record.at == record.entered_at == jst(DAY, "10:05")
    assert "お電話してもよいですか? 11時ごろはいかがでしょう" in record.content
    assert "体調がすぐれない" in record.content  # which alert it answered

    (note,) = thread_posts(both, alert)
    assert "佐藤 花子さんがメッセージを送りました(10:05)" in note.args["text"]

    # 山田 answers on LINE: the answer shows in the alert's thread
    await both.say(USER, "はい、大丈夫です。11時に電話ください", jst(DAY, "10:20"))
    await deliver(both, jst(DAY, "10:21"))
    # 「電話ください」 is also a 相談: it joins the day's message, noted in the same thread
    joined = [n for n in thread_posts(both, alert) if n.args["text"].startswith("➕")]
    assert [n.args["text"] for n in joined] == ["➕ 10:20 追加: 【相談の希望】山田 太郎さん"]
    notes = [n for n in thread_posts(both, alert) if n not in joined]
    assert len(notes) == 2
    assert "山田 太郎さんから(10:20)" in notes[1].args["text"]
    assert "はい、大丈夫です。11時に電話ください" in notes[1].args["text"]
    assert notes[1].args["channel"] == CHANNEL


async def test_minimal_disclosure_says_an_answer_came_without_its_words(both: Both) -> None:
    async with both.db.transaction() as session:
        (await session.get_one(Facility, both.facility_id)).disclosure = "minimal"
    _, alert = await worried_member(both)
    both.clock.at = jst(DAY, "10:05")
    await send_from_alert(both, alert, "無理せず休んでくださいね")
    assert both.line.calls(PUSH)[0].body["messages"][0]["text"] == (
        "無理せず休んでくださいね\n(佐藤 花子より)"
    )
    await both.say(USER, "頭が痛くて横になっています", jst(DAY, "10:20"))
    await deliver(both, jst(DAY, "10:21"))
    shown = json.dumps([c.args for c in thread_posts(both, alert)], ensure_ascii=False)
    assert "山田 太郎さんから返信がありました(10:20)" in shown
    assert "頭が痛く" not in shown and "無理せず" not in shown


async def test_mirroring_stops_once_the_alert_is_resolved(both: Both) -> None:
    _, alert = await worried_member(both)
    both.clock.at = jst(DAY, "10:05")
    await send_from_alert(both, alert, "お電話してもよいですか?")
    async with both.db.transaction() as session:
        (await session.get_one(Alert, alert.id)).state = "resolved"
    await both.say(USER, "ありがとうございます", jst(DAY, "10:30"))
    await deliver(both, jst(DAY, "10:31"))
    assert len(thread_posts(both, alert)) == 1  # only the note of the message sent


async def test_an_empty_message_keeps_the_form_open(both: Both) -> None:
    _, alert = await worried_member(both)
    await both.slack.interact(press(alert, "alert_message"))
    (opened,) = await both.slack.fake.wait_for("views.open")
    submit = from_view(opened.args["view"], "submit")
    block = text_block(opened.args["view"])["block_id"]
    submit["view"]["state"] = {"values": {block: {"message_text": {"value": "   "}}}}
    resp = await both.slack.interact(submit)
    assert resp.json() == {
        "response_action": "errors",
        "errors": {block: texts.STAFF_MESSAGE_EMPTY},
    }
    assert both.line.calls(PUSH) == []


async def test_a_member_on_slack_gets_the_message_in_their_dm(both: Both) -> None:
    mid, alert = await worried_member(both)
    async with both.db.transaction() as session:  # the member moved to Slack since
        session.add(
            Identity(platform="slack", platform_user_id="U_MEMBER", member_id=mid, active=True,
                     created_at=both.clock.at, linked_at=both.clock.at)
        )  # fmt: skip
    both.clock.at = jst(DAY, "10:05")
    await send_from_alert(both, alert, "無理せず休んでくださいね", "Slack")
    (dm,) = [c for c in both.slack.fake.of("chat.postMessage") if c.args["channel"] == "DU_MEMBER"]
    assert dm.args["text"] == "無理せず休んでくださいね\n(佐藤 花子より)"
    assert both.line.calls(PUSH) == []
