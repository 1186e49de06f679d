"""「メッセージを送る」 without an alert (issue #19), end to end: the board's
「メッセージを送る相手」 menu and the report view's button open the message form for a
member, and what staff write reaches the member on LINE signed 「(職員名より)」, kept as a
支援記録 (メッセージ, the staff member, entered then); there is no alert, so no thread note
and no mirroring."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.core import texts
from storage.models import SupportRecord
from tests.line.conftest import USER
from tests.line.schema import check_body
from tests.safety.test_linking import NAME, Both, linked_phone
from tests.safety.test_linking import both as both  # the app with LINE and Slack on
from tests.slack.conftest import STAFF1, TEAM, sample
from tests.slack.test_call_log import press_member
from tests.slack.test_staff_message import DAY, PUSH, from_view, text_block
from tests.support import jst, make_member


async def linked_member(both: Both) -> int:
    mid = await make_member(both.db, both.facility_id, both.clock.at, NAME)
    await linked_phone(both, USER, mid, jst(DAY, "09:00"))
    await both.say(USER, "開始 体調4 睡眠7 データ入力", jst(DAY, "10:00"))
    return mid


def choose(menu: dict[str, Any], option: dict[str, Any]) -> dict[str, Any]:
    """The board's menu, `option` chosen (the board is the ephemeral /nippo status answer)."""
    body = sample("interactivity/block_actions.json")
    body["user"].update(id=STAFF1, team_id=TEAM)
    body["team"]["id"] = TEAM
    body["channel"]["id"] = "C_STAFF"
    body["container"].update(
        channel_id="C_STAFF", message_ts="1700000000.999999", is_ephemeral=True
    )
    body["actions"] = [
        {
            "type": "static_select",
            "action_id": menu["action_id"],
            "block_id": "board_message",
            "selected_option": option,
            "action_ts": "1700000001.000001",
        }
    ]
    return body


async def submit(both: Both, view: dict[str, Any], words: str) -> None:
    body = from_view(view, "submit")
    block = text_block(view)["block_id"]
    body["view"]["state"] = {"values": {block: {"message_text": {"value": words}}}}
    assert (await both.slack.interact(body)).status_code == 200


async def test_the_boards_menu_writes_to_a_member_with_no_alert(both: Both) -> None:
    mid = await linked_member(both)
    both.clock.at = jst(DAY, "11:00")
    await both.slack.command(STAFF1, "status")
    (board,) = await both.slack.fake.wait_for("chat.postEphemeral")
    last = board.args["blocks"][-1]
    assert last["type"] == "actions" and last["block_id"] == "board_message"
    (menu,) = last["elements"]
    assert menu["type"] == "static_select"
    assert menu["placeholder"]["text"] == "メッセージを送る相手"
    assert [(o["text"]["text"], o["value"]) for o in menu["options"]] == [(NAME, str(mid))]

    await both.slack.interact(choose(menu, menu["options"][0]))
    (opened,) = await both.slack.fake.wait_for("views.open")
    view = opened.args["view"]
    assert view["callback_id"] == "alert_message_view"  # the alerts' own form
    assert f"{NAME}さんにLINEで" in view["blocks"][0]["text"]["text"]

    both.clock.at = jst(DAY, "11:05")
    await submit(both, view, "午後の作業も無理のない範囲でどうぞ")
    await both.slack.fake.wait_for("chat.postEphemeral", 2)
    await both.slack.fake.settle()

    (push,) = both.line.calls(PUSH)
    check_body(push.body, PUSH)
    assert push.body["to"] == USER
    assert push.body["messages"] == [
        {"type": "text", "text": "午後の作業も無理のない範囲でどうぞ\n(佐藤 花子より)"}
    ]
    async with both.db.transaction() as session:
        (record,) = (
            await session.scalars(
                select(SupportRecord).where(SupportRecord.kind == "staff_contact")
            )
        ).all()
    assert (record.member_id, record.channel, record.staff_id) == (mid, "message", 1)
    assert (record.at, record.entered_at, record.entered_by) == (
        jst(DAY, "11:05"), jst(DAY, "11:05"), "staff:1"
    )  # fmt: skip
    assert record.content == "メッセージを送信: 午後の作業も無理のない範囲でどうぞ"
    assert not [c for c in both.slack.fake.of("chat.postMessage") if c.args.get("thread_ts")]
    told = both.slack.fake.of("chat.postEphemeral")[-1]
    assert (told.args["channel"], told.args["user"]) == ("C_STAFF", STAFF1)
    assert told.args["text"] == texts.STAFF_MESSAGE_SENT.format(name=NAME)

    # the member's answer goes to no thread (there is no alert to mirror it into)
    await both.say(USER, "ありがとうございます", jst(DAY, "11:10"))
    assert not [c for c in both.slack.fake.of("chat.postMessage") if c.args.get("thread_ts")]


async def test_the_report_views_button_opens_the_same_form(both: Both) -> None:
    mid = await linked_member(both)
    await both.slack.interact(press_member("member_message", str(mid)))
    (opened,) = await both.slack.fake.wait_for("views.open")
    assert opened.args["view"]["callback_id"] == "alert_message_view"
    assert NAME in opened.args["view"]["blocks"][0]["text"]["text"]


async def test_a_member_of_no_one_here_gets_no_form(both: Both) -> None:
    await linked_member(both)
    menu = {"action_id": "board_message"}
    await both.slack.interact(choose(menu, {"text": {"type": "plain_text", "text": "x"},
                                            "value": "9999"}))  # fmt: skip
    (told,) = await both.slack.fake.wait_for("chat.postEphemeral")
    assert told.args["text"] == texts.MEMBER_NOT_YOURS
    assert not both.slack.fake.of("views.open") and not both.line.calls(PUSH)


async def test_a_member_without_a_linked_account_is_not_offered_a_form(both: Both) -> None:
    mid = await make_member(both.db, both.facility_id, both.clock.at, NAME)
    await both.slack.interact(press_member("member_message", str(mid)))
    (told,) = await both.slack.fake.wait_for("chat.postEphemeral")
    assert told.args["text"] == texts.STAFF_MESSAGE_NO_ACCOUNT.format(name=NAME)
    assert not both.slack.fake.of("views.open")
