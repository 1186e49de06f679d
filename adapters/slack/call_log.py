"""Staff reach a member from Slack without an alert's 「メッセージを送る」 button, and log a call.

「電話・ビデオを記録」 (on every alert, and on a member's report view) opens a form: 電話 or
ビデオ通話, the time the call happened (now, unless changed) and what was talked about. It
becomes a 支援記録 through the same path a message takes (bot/services/alert_actions.py
`log_call`, `send_message` → records.log_contact), and, from an alert, a line in the alert's
thread saying who called and how. Logging a call neither takes nor resolves the alert.

The board's 「メッセージを送る相手」 menu and the report view's 「メッセージを送る」 button open
the alerts' message form (adapters/slack/alerts.py) for a member with no alert at hand.
"""

from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import alerts, home
from adapters.slack import blocks as bk
from adapters.slack.deps import Deps
from bot.core import provenance, texts
from bot.queries import board
from bot.services import alert_actions
from storage.models import Facility

VIEW_CALL_LOG = "call_log_view"
NOTE_MAX = 1000


def register(bolt: AsyncApp, deps: Deps) -> None:
    @bolt.action(bk.ACTION_CALL_LOG)
    async def call_from_alert(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await open_call_form(deps, client, body, {"alert_id": _value(body)})

    @bolt.action(bk.ACTION_MEMBER_CALL_LOG)
    async def call_for_member(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await open_call_form(deps, client, body, {"member_id": _value(body)})

    @bolt.action(bk.ACTION_MEMBER_MESSAGE)
    async def message_member(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await alerts.open_message_form(deps, client, body, {"member_id": _value(body)})

    @bolt.action(bk.ACTION_BOARD_MESSAGE)
    async def message_from_board(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        chosen = (body["actions"][0].get("selected_option") or {}).get("value") or ""
        if chosen.isdigit():
            await alerts.open_message_form(deps, client, body, {"member_id": int(chosen)})

    @bolt.view(VIEW_CALL_LOG)
    async def call_submit(
        ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        meta = json.loads(view.get("private_metadata") or "{}")
        method, at, note = read_form(view, str(meta.get("tz") or "Asia/Tokyo"), deps.clock())
        errors = form_errors(method, at, note, deps.clock())
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        assert at is not None
        await on_call_submit(deps, client, body, meta, method, at, note)


def _value(body: dict[str, Any]) -> int:
    return int(body["actions"][0]["value"])


async def open_call_form(
    deps: Deps, client: AsyncWebClient, body: dict[str, Any], target: dict[str, int]
) -> None:
    """The call form for `target` ({"alert_id": …} or {"member_id": …}), or why not."""
    user = body["user"]["id"]
    channel, ts = alerts._where(body)
    where = {"channel": channel, **home.origin(body)}
    now = deps.clock()
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, user)
        if staff is None:
            refusal, name = texts.SLACK_NOT_STAFF, ""
        elif "alert_id" in target:
            item = await board.alert_item(session, target["alert_id"])
            visible = await alert_actions.visible(session, target["alert_id"], staff)
            ok = item is not None and visible
            refusal, name = ("", item.member_name) if ok and item else (texts.ALERT_NOT_YOURS, "")
        else:
            member = await alert_actions.member_for(session, target["member_id"], staff)
            refusal, name = ("", member.name) if member else (texts.MEMBER_NOT_YOURS, "")
        tz = (await session.get_one(Facility, staff.facility_id)).tz if staff else ""
    if refusal:
        await alerts._answer(deps, client, where, user, refusal)
        return
    meta = json.dumps({**target, **where, "ts": ts, "tz": tz})
    form = call_modal(name, meta, now.astimezone(ZoneInfo(tz)).time())
    await client.views_open(trigger_id=body["trigger_id"], view=form)


def call_modal(name: str, metadata: str, now: time) -> bk.Block:
    """電話 or ビデオ通話, when (now unless changed) and what was talked about."""
    options = [{"text": _plain(label), "value": m} for m, label in texts.CALL_LOG_METHODS.items()]
    return {
        "type": "modal",
        "callback_id": VIEW_CALL_LOG,
        "private_metadata": metadata[:3000],
        "title": _plain(texts.CALL_LOG_TITLE, bk.MAX_MODAL_TITLE),
        "submit": _plain(texts.CALL_LOG_SUBMIT, bk.MAX_MODAL_TITLE),
        "close": _plain(texts.RESOLVE_CLOSE, bk.MAX_MODAL_TITLE),
        "blocks": [
            bk.section(texts.CALL_LOG_INTRO.format(name=bk.escape(name))),
            {
                "type": "input",
                "block_id": "method",
                "label": _plain(texts.CALL_LOG_METHOD),
                "element": {
                    "type": "radio_buttons",
                    "action_id": "method",
                    "initial_option": options[0],
                    "options": options,
                },
            },
            {
                "type": "input",
                "block_id": "time",
                "label": _plain(texts.CALL_LOG_TIME),
                "element": {
                    "type": "timepicker",
                    "action_id": "time",
                    "initial_time": now.strftime("%H:%M"),
                },
            },
            {
                "type": "input",
                "block_id": "note",
                "label": _plain(texts.CALL_LOG_NOTE),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "note",
                    "multiline": True,
                    "max_length": NOTE_MAX,
                    "placeholder": _plain(texts.CALL_LOG_NOTE_HINT),
                },
            },
        ],
    }


def _plain(text: str, limit: int = 150) -> bk.Block:
    return {"type": "plain_text", "text": bk.clip(text, limit), "emoji": True}


def read_form(view: dict[str, Any], tz: str, now: datetime) -> tuple[str, datetime | None, str]:
    """The method, the moment the call happened (today, in the facility's zone) and the note."""
    values = (view.get("state") or {}).get("values", {})
    method = ((values.get("method", {}).get("method") or {}).get("selected_option") or {}).get(
        "value"
    ) or ""
    raw = (values.get("time", {}).get("time") or {}).get("selected_time") or ""
    note = str((values.get("note", {}).get("note") or {}).get("value") or "").strip()
    try:
        hour, minute = (int(p) for p in raw.split(":"))
        today = now.astimezone(ZoneInfo(tz)).date()
        at: datetime | None = datetime.combine(today, time(hour, minute), ZoneInfo(tz))
    except ValueError:
        at = None
    return str(method), at, note


def form_errors(method: str, at: datetime | None, note: str, now: datetime) -> dict[str, str]:
    """What the form answers in place (response_action "errors"), by block id."""
    errors = {}
    if method not in alert_actions.CALL_METHODS:
        errors["method"] = texts.CALL_LOG_METHOD
    if at is None or provenance.is_future(at, now):
        errors["time"] = texts.CALL_LOG_TIME_FUTURE
    if not note:
        errors["note"] = texts.CALL_LOG_NOTE_EMPTY
    return errors


async def on_call_submit(
    deps: Deps,
    client: AsyncWebClient,
    body: dict[str, Any],
    meta: dict[str, Any],
    method: str,
    at: datetime,
    note: str,
) -> None:
    user = body["user"]["id"]
    alert_id, member_id = alerts.form_target(meta)
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, user)
        if staff is None:
            return
        result = await alert_actions.log_call(
            session,
            staff,
            alert_id=alert_id,
            member_id=member_id,
            method=method,
            note=note,
            at=at,
            ref=str(body["view"]["id"]),
            now=deps.clock(),
        )
    if result.logged:
        await deps.flush()  # the note in the alert's thread
        said = texts.CALL_LOG_SAVED.format(
            name=bk.escape(result.name), method=texts.CALL_LOG_METHODS[method]
        )
    elif result.allowed:
        said = texts.CALL_LOG_NOT_SAVED.format(reason=bk.escape(result.error))
    else:
        said = texts.ALERT_NOT_YOURS if alert_id is not None else texts.MEMBER_NOT_YOURS
    await alerts._answer(deps, client, meta, user, said)
