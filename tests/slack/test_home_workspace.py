"""App Home as the staff's workspace (issue #19): a date picker for the board, the alerts with
their buttons (pressed on Home, they work and Home is drawn again), the viewer's 担当, and the
quick actions (log a contact, open an evaluation, export this month, the web console)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import select

from adapters.slack import home_blocks as hb
from bot.core import texts
from storage.models import Alert, AuditLog, DailyReport, Evaluation, Member, SupportRecord
from tests.slack.conftest import CHANNEL, MANAGER, STAFF1, STAFF2, TEAM, Rig, sample
from tests.slack.fake_slack import Call, Refusal, check_blocks
from tests.slack.test_alerts import _alert, deliver, raise_many, raise_one
from tests.slack.test_commands import DAY, add_report
from tests.slack.test_records_surfaces import submit
from tests.support import jst, make_member

_ids = iter(range(1, 100_000))
STAFF1_ID = 1  # the rig adds 佐藤 花子 (STAFF1), 鈴木 一郎 (STAFF2), 高橋 管理 (MANAGER)


def opened(user: str) -> dict[str, Any]:
    body = sample("events/message_channel.json")
    body["team_id"], body["event_id"] = TEAM, f"EvHome{next(_ids)}"
    body["event"] = {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"}
    return body


def on_home(user: str, action: dict[str, Any], day: str = DAY) -> dict[str, Any]:
    """A block_actions payload from the Home tab: a view container, no channel, no message."""
    body = sample("interactivity/block_actions.json")
    body["user"].update(id=user, team_id=TEAM)
    body["team"]["id"] = TEAM
    for key in ("channel", "response_url"):
        body.pop(key)
    body["container"] = {"type": "view", "view_id": "VHOME"}
    body["view"] = {"id": "VHOME", "type": "home", "private_metadata": day, "hash": "1.h"}
    body["actions"] = [{"action_ts": f"1700000000.{next(_ids):06d}", **action}]
    return body


def button(user: str, action_id: str, value: str, day: str = DAY) -> dict[str, Any]:
    return on_home(user, {"type": "button", "action_id": action_id, "value": value}, day)


def picked(block: str, value: str) -> dict[str, Any]:
    return {block: {block: {"type": "static_select", "selected_option": {"value": value}}}}


def typed(block: str, value: str) -> dict[str, Any]:
    return {block: {block: {"type": "plain_text_input", "value": value}}}


def blocks_of(call: Call) -> list[dict[str, Any]]:
    return list(call.args["view"]["blocks"])


def shown(call: Call) -> str:
    return json.dumps(call.args["view"], ensure_ascii=False)


def buttons(call: Call) -> dict[str, list[tuple[str, str]]]:
    """Each actions block's (action_id, value) pairs, by block id."""
    return {
        b.get("block_id", ""): [(e["action_id"], e.get("value", "")) for e in b["elements"]]
        for b in blocks_of(call)
        if b["type"] == "actions"
    }


def after(call: Call, heading: str) -> list[dict[str, Any]]:
    """The heading's block and those under it, up to the next divider."""
    blocks = blocks_of(call)
    start = next(i for i, b in enumerate(blocks) if heading in json.dumps(b, ensure_ascii=False))
    out = []
    for b in blocks[start:]:
        if b["type"] == "divider":
            break
        out.append(b)
    return out


async def published(rig: Rig, count: int) -> Call:
    return (await rig.fake.wait_for("views.publish", count))[count - 1]


async def assign(rig: Rig, member_id: int, *, primary: int | None, substitute: int | None = None):
    async with rig.db.transaction() as session:
        member = await session.get_one(Member, member_id)
        member.primary_staff_id, member.substitute_staff_id = primary, substitute


async def test_home_shows_the_day_the_alerts_with_their_buttons_and_the_viewers_members(
    rig: Rig,
) -> None:
    waiting = await raise_one(rig)  # 山田 太郎, open: nobody has it
    taken, theirs = await raise_many(rig, 2)  # 利用者0 花, 利用者1 花
    other = await make_member(rig.db, rig.facility_id, rig.clock.at, "木村 三郎")
    async with rig.db.transaction() as session:
        for alert_id, staff_id in ((taken, STAFF1_ID), (theirs, 2)):
            alert = await session.get_one(Alert, alert_id)
            alert.state, alert.acked_by, alert.acked_at = "acked", staff_id, rig.clock.at
        mine_member = (await session.get_one(Alert, waiting)).member_id
    await assign(rig, mine_member, primary=STAFF1_ID)
    await assign(rig, other, primary=2, substitute=STAFF1_ID)
    await rig.event(opened(STAFF1))
    home = await published(rig, 1)
    assert home.args["user_id"] == STAFF1
    head = blocks_of(home)[0]
    assert "ひだまり作業所" in head["text"]["text"] and "7/1(水)" in head["text"]["text"]
    assert head["accessory"]["type"] == "datepicker"
    assert head["accessory"]["action_id"] == hb.ACTION_DATE
    assert head["accessory"]["initial_date"] == DAY == home.args["view"]["private_metadata"]
    actions = buttons(home)
    # the open alert carries the channel message's own buttons, with its id as their value
    assert actions[f"alert:{waiting}"][0] == ("alert_take", str(waiting))
    assert ("alert_resolve", str(waiting)) in actions[f"alert:{waiting}"]
    # the one the viewer took: listed as theirs, nothing left to take
    assert [a for a, _ in actions[f"alert:{taken}"]][:1] != ["alert_take"]
    assert ("alert_resolve", str(taken)) in actions[f"alert:{taken}"]
    mine = json.dumps(after(home, texts.HOME_MINE), ensure_ascii=False)
    assert "利用者0 花" in mine and "佐藤 花子さんが対応中" in mine and "山田" not in mine
    # someone else's alert is theirs to handle: no buttons here
    assert f"alert:{theirs}" not in actions
    people = json.dumps(after(home, texts.HOME_ASSIGNED), ensure_ascii=False)
    assert "山田 太郎" in people and f"木村 三郎*{texts.HOME_SUBSTITUTE}  未報告" in people
    assert "利用者0 花" not in people
    quick = [a for a, _ in actions["home_actions"]]
    assert quick == [hb.ACTION_LOG, hb.ACTION_EVAL, hb.ACTION_WEB]  # exports: managers only
    await rig.event(opened(MANAGER))
    assert hb.ACTION_EXPORT in [a for a, _ in buttons(await published(rig, 2))["home_actions"]]
    async with rig.db.transaction() as session:
        rows = await session.execute(select(AuditLog).where(AuditLog.action == "slack.home"))
        assert [r.actor for r in rows.scalars()] == ["staff:1", "staff:3"]


async def test_picking_a_day_shows_that_days_board_or_plan_and_an_empty_day_kindly(
    rig: Rig,
) -> None:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    await add_report(rig, mid, status="started", start_at=jst(DAY, "10:00"))
    yesterday = {
        "status": "ended",
        "start_at": jst("2026-06-30", "10:00"),
        "end_at": jst("2026-06-30", "15:00"),
        "outputs": "入力 30件",
    }
    async with rig.db.transaction() as session:
        session.add(
            DailyReport(
                member_id=mid, business_date=date(2026, 6, 30), mode="zaitaku", flags={},
                created_at=rig.clock.at, updated_at=rig.clock.at, **yesterday,
            )
        )  # fmt: skip

    def pick(day: str) -> dict[str, Any]:
        action = {"type": "datepicker", "action_id": hb.ACTION_DATE, "selected_date": day}
        return on_home(STAFF1, {"block_id": "home_date", "initial_date": DAY, **action})

    await rig.interact(pick("2026-06-30"))
    past = await published(rig, 1)
    assert past.args["user_id"] == STAFF1
    assert past.args["view"]["private_metadata"] == "2026-06-30"
    assert blocks_of(past)[0]["accessory"]["initial_date"] == "2026-06-30"
    text = shown(past)
    assert "6/30(火) 在宅の状況" in text and "終了" in text and "入力 30件" in text
    assert "作業中(1名)" not in text  # today's state is not yesterday's
    await rig.interact(pick("2026-07-02"))
    plan = shown(await published(rig, 2))
    assert "7/2(木) 在宅の予定" in plan and "山田 太郎" in plan and "予定 10:00〜15:00" in plan
    await rig.interact(pick("2026-06-27"))  # a Saturday: nobody was planned
    empty = shown(await published(rig, 3))
    assert texts.BOARD_EMPTY in empty and "山田" not in empty
    await rig.interact(pick("2026-05-01"))  # no records yet: missing, not "overdue by days"
    old = shown(await published(rig, 4))
    assert "山田 太郎" in old and texts.BOARD_MISSING_PAST in old and "経過" not in old
    await rig.event(opened(STAFF1))  # opening the tab again starts from today
    assert "7/1(水) 在宅の状況" in shown(await published(rig, 5))


async def test_taking_an_alert_on_home_takes_it_updates_the_channel_and_draws_home_again(
    rig: Rig,
) -> None:
    alert_id = await raise_one(rig)
    await deliver(rig)
    channel_ts = (await _alert(rig, alert_id)).slack_ts
    await rig.interact(button(STAFF1, "alert_take", str(alert_id), day="2026-06-30"))
    again = await published(rig, 1)
    alert = await _alert(rig, alert_id)
    assert (alert.state, alert.acked_by) == ("acked", STAFF1_ID)
    (update,) = await rig.fake.wait_for("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (CHANNEL, channel_ts)
    assert "佐藤 花子さんが対応中" in json.dumps(update.args["blocks"], ensure_ascii=False)
    assert again.args["user_id"] == STAFF1
    assert again.args["view"]["private_metadata"] == "2026-06-30"  # the day Home showed
    mine = json.dumps(after(again, texts.HOME_MINE), ensure_ascii=False)
    assert "体調がすぐれないとの回答" in mine and "alert_take" not in mine
    # a second person pressing the old button hears who has it, on their Home
    await rig.interact(button(STAFF2, "alert_take", str(alert_id)))
    late = await published(rig, 2)
    assert late.args["user_id"] == STAFF2
    note = blocks_of(late)[1]["text"]["text"]
    assert note == texts.ALERT_ALREADY_TAKEN.format(name="佐藤 花子")
    assert not rig.fake.of("chat.postEphemeral")  # no channel to post into from Home


async def test_resolving_from_home_closes_the_alert_and_draws_home_without_it(rig: Rig) -> None:
    alert_id = await raise_one(rig)
    await deliver(rig)
    await rig.interact(button(STAFF1, "alert_resolve", str(alert_id)))
    (form,) = await rig.fake.wait_for("views.open")
    values = {
        "method": {"method": {"type": "static_select", "selected_option": {"value": "電話"}}},
        **typed("outcome", "電話で体調を確認。午後は休むとのこと。"),
    }
    await rig.interact(submit(STAFF1, form.args["view"], values))
    home = await published(rig, 1)
    assert (await _alert(rig, alert_id)).state == "resolved"
    assert f"alert:{alert_id}" not in buttons(home)
    assert texts.NO_ALERTS in shown(home) and texts.HOME_MINE_NONE in shown(home)
    (update,) = await rig.fake.wait_for("chat.update")  # the channel message says it is done
    assert "対応済み" in json.dumps(update.args["blocks"], ensure_ascii=False)


async def test_logging_a_contact_from_home_writes_a_support_record_with_who_and_when(
    rig: Rig,
) -> None:
    other = await make_member(rig.db, rig.facility_id, rig.clock.at, "木村 三郎")
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    await assign(rig, mid, primary=STAFF1_ID)
    await rig.interact(button(STAFF1, hb.ACTION_LOG, "log"))
    (opened_form,) = await rig.fake.wait_for("views.open")
    form = opened_form.args["view"]
    assert opened_form.args["trigger_id"]
    options = form["blocks"][0]["element"]["options"]
    assert [o["value"] for o in options] == [str(mid), str(other)]  # 担当 first
    methods = [o["value"] for o in form["blocks"][1]["element"]["options"]]
    assert methods == ["電話", "訪問", "通所", "メッセージ", "ビデオ"]
    assert form["blocks"][2]["element"]["initial_time"] == "11:00"
    values = {
        **picked("member", str(mid)),
        **picked("method", "電話"),
        "at": {"at": {"type": "timepicker", "selected_time": "12:30"}},
        **typed("text", "体調を確認。午後から作業を再開するとのこと。"),
    }
    refused = await rig.interact(submit(STAFF1, form, values))  # 12:30 has not come yet
    assert refused.json()["response_action"] == "errors" and "at" in refused.json()["errors"]
    assert await rig.count(SupportRecord) == 0
    values["at"]["at"]["selected_time"] = "10:30"
    assert (await rig.interact(submit(STAFF1, form, values))).status_code == 200
    home = await published(rig, 1)
    async with rig.db.transaction() as session:
        record = (await session.execute(select(SupportRecord))).scalar_one()
    assert (record.member_id, record.staff_id, record.channel) == (mid, STAFF1_ID, "phone")
    assert record.at == jst(DAY, "10:30") and record.entered_at == jst(DAY, "11:00")
    assert record.entered_by == "staff:1" and "午後から作業を再開" in record.content
    note = blocks_of(home)[1]["text"]["text"]
    assert note.startswith(texts.SLACK_LOGGED.format(name="山田 太郎", method="電話"))


async def test_opening_an_evaluation_from_home_asks_whose_then_opens_the_eval_form(
    rig: Rig,
) -> None:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    await rig.interact(button(STAFF1, hb.ACTION_EVAL, "eval"))
    (opened_form,) = await rig.fake.wait_for("views.open")
    pick = opened_form.args["view"]
    assert pick["callback_id"] == hb.VIEW_EVAL_PICK
    answer = await rig.interact(
        submit(STAFF1, pick, {**picked("member", str(mid)), **picked("kind", "weekly")})
    )
    step_two = answer.json()
    assert step_two["response_action"] == "update"
    form = step_two["view"]
    assert form["callback_id"] == "evaluation_view" and "山田 太郎さん" in json.dumps(
        form, ensure_ascii=False
    )
    check_blocks(form["blocks"], 100, "eval form")
    values = {**picked("method", "電話"), **typed("note", "週の振り返り。入力作業が安定。")}
    assert (await rig.interact(submit(STAFF1, form, values))).status_code == 200
    async with rig.db.transaction() as session:
        ev = (await session.execute(select(Evaluation))).scalar_one()
    assert (ev.member_id, ev.kind, ev.method) == (mid, "weekly", "phone")


async def test_export_from_home_sends_the_file_to_the_dm_and_says_so(rig: Rig) -> None:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at)
    await add_report(rig, mid, status="ended", start_at=jst(DAY, "10:00"), end_at=jst(DAY, "15:00"))
    choose = {
        "type": "static_select",
        "action_id": hb.ACTION_EXPORT,
        "block_id": "home_actions",
        "selected_option": {"value": "nippo", "text": {"type": "plain_text", "text": "日報"}},
    }
    await rig.interact(on_home(MANAGER, choose))
    (done,) = await rig.fake.wait_for("files.completeUploadExternal")
    assert done.args["channel_id"] == f"D{MANAGER}"
    (data,) = rig.fake.uploads.values()
    assert "山田 太郎" in data.decode("utf-8-sig")
    home = await published(rig, 1)
    note = blocks_of(home)[1]["text"]["text"]
    assert note == texts.SLACK_EXPORT_DONE.format(title="日報", month="2026-07") + (
        texts.HOME_EXPORT_SENT
    )
    # Slack refusing the upload is answered on Home: what failed and what to do
    rig.fake.refuse(
        "files.getUploadURLExternal", Refusal(200, {"ok": False, "error": "missing_scope"})
    )
    await rig.interact(on_home(MANAGER, choose))
    failed = blocks_of(await published(rig, 2))[1]["text"]["text"]
    assert "送れませんでした" in failed and "missing_scope" in failed
    assert texts.SLACK_EXPORT_REFUSED in failed
    # staff who are not managers cannot export from Home either
    await rig.interact(on_home(STAFF1, choose))
    assert texts.SLACK_MANAGERS_ONLY in shown(await published(rig, 3))
    assert len(rig.fake.uploads) == 1


async def test_the_web_button_answers_on_home(rig: Rig) -> None:
    await rig.interact(button(STAFF1, hb.ACTION_WEB, "web"))
    home = await published(rig, 1)
    assert blocks_of(home)[1]["text"]["text"] == texts.SLACK_CONSOLE_NO_URL  # no PUBLIC_URL


async def test_forty_members_and_thirty_alerts_fit_home_with_every_alert_whole(rig: Rig) -> None:
    ids = await raise_many(rig, 30)
    for n in range(10):
        await make_member(rig.db, rig.facility_id, rig.clock.at, f"ほか{n:02d} 花")
    async with rig.db.transaction() as session:
        for mid in (await session.execute(select(Member.id))).scalars():
            (await session.get_one(Member, mid)).primary_staff_id = STAFF1_ID
    await rig.event(opened(STAFF1))
    home = await published(rig, 1)
    blocks = blocks_of(home)
    assert len(blocks) <= 100  # the rig checks every other limit at teardown
    listed = [i for i in ids if f"alert:{i}" in buttons(home)]
    assert listed and listed == ids[: len(listed)]  # oldest first, none cut in half
    more = texts.HOME_ALERTS_MORE.format(count=30 - len(listed))
    assert more in shown(home)
    people = json.dumps(after(home, texts.HOME_ASSIGNED), ensure_ascii=False)
    assert "利用者0 花" in people and "ほか09 花" in people


async def test_send_a_message_from_home_for_a_member_without_an_account_says_so_on_home(
    rig: Rig,
) -> None:
    alert_id = await raise_one(rig)
    await rig.interact(button(STAFF1, "alert_message", str(alert_id)))
    home = await published(rig, 1)
    note = blocks_of(home)[1]["text"]["text"]
    assert note == texts.STAFF_MESSAGE_NO_ACCOUNT.format(name="山田 太郎")
    assert not rig.fake.of("views.open") and not rig.fake.of("chat.postEphemeral")
