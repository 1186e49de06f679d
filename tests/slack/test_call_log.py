"""Staff log a phone or video call from Slack (issue #19), end to end: the real app with LINE
and Slack on, signed Slack requests, the fake Slack API recording what staff were shown.

佐藤 calls 山田 about his alert and presses 「電話・ビデオを記録」: the form opens (電話 /
ビデオ通話, the time, what was talked about), and its submission is a 支援記録 (the method,
佐藤, the moment of the call and when it was written down) with a line in the alert's thread
saying who called and how, never what was said. The alert stays open. A blank note or a time
yet to come is answered in the form and records nothing. The report view has the same button.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bot.core import texts
from storage.models import Alert, SupportRecord
from tests.safety.test_linking import NAME, Both
from tests.safety.test_linking import both as both  # the app with LINE and Slack on
from tests.slack.conftest import CHANNEL, STAFF1, TEAM, sample
from tests.slack.test_staff_message import DAY, from_view, press, thread_posts, worried_member
from tests.support import jst


def call_form(view: dict[str, Any], method: str, hm: str, note: str) -> dict[str, Any]:
    """The form submitted with these answers, as Slack posts it."""
    submit = from_view(view, "submit")
    submit["view"]["state"] = {
        "values": {
            "method": {"method": {"type": "radio_buttons", "selected_option": {"value": method}}},
            "time": {"time": {"type": "timepicker", "selected_time": hm}},
            "note": {"note": {"type": "plain_text_input", "value": note}},
        }
    }
    return submit


async def staff_contacts(both: Both, member_id: int) -> list[SupportRecord]:
    async with both.db.transaction() as session:
        stmt = select(SupportRecord).where(
            SupportRecord.member_id == member_id, SupportRecord.kind == "staff_contact"
        )
        return list((await session.scalars(stmt)).all())


async def test_a_call_logged_from_an_alert_is_recorded_and_noted_in_its_thread(
    both: Both,
) -> None:
    mid, alert = await worried_member(both)
    both.clock.at = jst(DAY, "10:40")
    assert (await both.slack.interact(press(alert, "alert_call_log"))).status_code == 200
    (opened,) = await both.slack.fake.wait_for("views.open")
    view = opened.args["view"]
    assert view["callback_id"] == "call_log_view"
    assert view["title"]["text"] == "電話・ビデオの記録"
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert [o["text"]["text"] for o in inputs["method"]["options"]] == ["電話", "ビデオ通話"]
    assert inputs["method"]["initial_option"]["value"] == "phone"
    assert inputs["time"] == {"type": "timepicker", "action_id": "time", "initial_time": "10:40"}
    assert inputs["note"]["multiline"] and inputs["note"]["max_length"] == 1000
    assert NAME in view["blocks"][0]["text"]["text"]

    note = "ビデオ通話で体調を確認。頭痛があり午後は休むとのこと。"
    resp = await both.slack.interact(call_form(view, "video", "10:30", note))
    assert resp.status_code == 200 and not resp.content  # accepted: the form closes
    await both.slack.fake.wait_for("chat.postEphemeral")
    await both.slack.fake.settle()

    (record,) = await staff_contacts(both, mid)
    assert (record.channel, record.staff_id, record.entered_by) == ("video", 1, "staff:1")
    assert record.at == jst(DAY, "10:30")  # when the call happened
    assert record.entered_at == jst(DAY, "10:40")  # when it was written down
    assert note in record.content and "体調がすぐれない" in record.content  # which alert
    assert not record.late

    (line,) = thread_posts(both, alert)
    assert line.args["channel"] == CHANNEL and line.args["thread_ts"] == alert.slack_ts
    assert line.args["text"] == texts.THREAD_CALL_LOGGED.format(
        staff="佐藤 花子", method="ビデオ通話", time="10:30"
    )
    assert "頭痛" not in json.dumps(line.args, ensure_ascii=False)  # the words stay in the record
    (told,) = both.slack.fake.of("chat.postEphemeral")
    assert told.args["user"] == STAFF1
    assert told.args["text"] == texts.CALL_LOG_SAVED.format(name=NAME, method="ビデオ通話")
    async with both.db.transaction() as session:  # a call neither takes nor closes the alert
        assert (await session.get_one(Alert, alert.id)).state == "open"
    assert not both.slack.fake.of("chat.update")


async def test_a_blank_note_or_a_time_yet_to_come_is_answered_in_the_form(both: Both) -> None:
    mid, alert = await worried_member(both)
    both.clock.at = jst(DAY, "10:40")
    await both.slack.interact(press(alert, "alert_call_log"))
    (opened,) = await both.slack.fake.wait_for("views.open")
    resp = await both.slack.interact(call_form(opened.args["view"], "phone", "11:30", "   "))
    assert resp.json() == {
        "response_action": "errors",
        "errors": {"time": texts.CALL_LOG_TIME_FUTURE, "note": texts.CALL_LOG_NOTE_EMPTY},
    }
    await both.slack.fake.settle()
    assert await staff_contacts(both, mid) == []
    assert thread_posts(both, alert) == []


def press_member(action_id: str, value: str) -> dict[str, Any]:
    """A button on the (ephemeral) report view `/nippo report` answered with."""
    body = sample("interactivity/block_actions.json")
    body["user"].update(id=STAFF1, team_id=TEAM)
    body["team"]["id"] = TEAM
    body["channel"]["id"] = "C_STAFF"
    body["container"].update(channel_id="C_STAFF", message_ts="1700000000.999999")
    body["container"]["is_ephemeral"] = True
    body["actions"][0].update(action_id=action_id, value=value, block_id=f"member:{value}")
    return body


async def test_a_call_logged_from_the_report_view_is_a_record_without_a_thread(
    both: Both,
) -> None:
    mid, alert = await worried_member(both)
    both.clock.at = jst(DAY, "14:00")
    await both.slack.command(STAFF1, f"report 山田 {DAY}")
    (shown,) = await both.slack.fake.wait_for("chat.postEphemeral")
    (reach,) = [b for b in shown.args["blocks"] if b.get("block_id") == f"member:{mid}"]
    assert [(e["text"]["text"], e["action_id"], e["value"]) for e in reach["elements"]] == [
        ("メッセージを送る", "member_message", str(mid)),
        ("電話・ビデオを記録", "member_call_log", str(mid)),
    ]

    await both.slack.interact(press_member("member_call_log", str(mid)))
    (opened,) = await both.slack.fake.wait_for("views.open")
    view = opened.args["view"]
    assert json.loads(view["private_metadata"])["member_id"] == mid
    await both.slack.interact(call_form(view, "phone", "13:50", "作業の進み具合を確認。"))
    await both.slack.fake.wait_for("chat.postEphemeral", 2)
    await both.slack.fake.settle()

    (record,) = await staff_contacts(both, mid)
    assert (record.channel, record.content) == ("phone", "作業の進み具合を確認。")
    assert (record.at, record.entered_at) == (jst(DAY, "13:50"), jst(DAY, "14:00"))
    assert thread_posts(both, alert) == []  # logged for the member, not for the alert
    told = both.slack.fake.of("chat.postEphemeral")[-1]
    assert told.args["channel"] == "C_STAFF"
    assert told.args["text"] == texts.CALL_LOG_SAVED.format(name=NAME, method="電話")


async def test_someone_not_on_the_staff_list_gets_no_form(both: Both) -> None:
    _, alert = await worried_member(both)
    body = press(alert, "alert_call_log")
    body["user"]["id"] = "U_STRANGER"
    await both.slack.interact(body)
    (told,) = await both.slack.fake.wait_for("chat.postEphemeral")
    assert told.args["text"] == texts.SLACK_NOT_STAFF
    assert not both.slack.fake.of("views.open")
