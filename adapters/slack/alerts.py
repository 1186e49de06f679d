"""The alert buttons: 「対応します」 takes an alert, 「メッセージを送る」 opens a form whose words
go to the member on their own platform, 「対応済み」 opens a form that closes it.

The message in the alert channel is updated in place (chat.update) so the channel always shows
who has an alert; whoever loses a race hears who won in an ephemeral message.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.slack import blocks as bk
from adapters.slack import home, views
from adapters.slack.deps import Deps
from adapters.slack.errors import slack_error
from bot.core import texts
from bot.core.domain import AlertState
from bot.queries import board
from bot.services import accounts, alert_actions
from bot.services.alert_actions import ActionResult

log = logging.getLogger(__name__)


def register(bolt: AsyncApp, deps: Deps) -> None:
    @bolt.action(bk.ACTION_TAKE)
    async def take(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await on_take(deps, client, body)

    @bolt.action(bk.ACTION_RESOLVE)
    async def resolve_form(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await on_resolve_button(deps, client, body)

    @bolt.action(bk.ACTION_MESSAGE)
    async def message_form(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await on_message_button(deps, client, body)

    @bolt.action(bk.ACTION_MENU)
    async def menu(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await on_menu(deps, client, body)

    @bolt.action(bk.ACTION_MESSAGE_TEMPLATE)
    async def message_template(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await on_template(deps, client, body)

    @bolt.view(bk.VIEW_MESSAGE)
    async def message_submit(
        ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        text = bk.message_text(view)
        if not text:
            block = next(b["block_id"] for b in view["blocks"] if b["type"] == "input")
            await ack(response_action="errors", errors={block: texts.STAFF_MESSAGE_EMPTY})
            return
        await ack()
        await on_message_submit(deps, client, body, text)

    @bolt.view(bk.VIEW_RESOLVE)
    async def resolve_submit(
        ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        values = view["state"]["values"]
        method = (values["method"]["method"].get("selected_option") or {}).get("value") or ""
        outcome = (values["outcome"]["outcome"].get("value") or "").strip()
        if method not in alert_actions.METHODS or not outcome:
            await ack(response_action="errors", errors={"outcome": texts.RESOLVE_OUTCOME_HINT})
            return
        await ack()
        await on_resolve_submit(deps, client, body, method, outcome)


async def on_menu(deps: Deps, client: AsyncWebClient, body: dict[str, Any]) -> None:
    """A digest line's overflow menu: the chosen option stands for one of the alert buttons
    (its value is that button's action id and value), handled as if it was pressed."""
    action = body["actions"][0]
    action_id, value = bk.parse_menu((action.get("selected_option") or {}).get("value") or "")
    handler = {
        bk.ACTION_TAKE: on_take,
        bk.ACTION_MESSAGE: on_message_button,
        bk.ACTION_RESOLVE: on_resolve_button,
    }.get(action_id)
    if handler is not None and value.isdigit():
        pressed = {**action, "action_id": action_id, "value": value}
        await handler(deps, client, {**body, "actions": [pressed]})


def _where(body: dict[str, Any]) -> tuple[str, str | None]:
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
    ts = None if container.get("is_ephemeral") else container.get("message_ts")
    return str(channel), ts


async def on_take(deps: Deps, client: AsyncWebClient, body: dict[str, Any]) -> None:
    user = body["user"]["id"]
    alert_id = int(body["actions"][0]["value"])
    channel, _ = _where(body)
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, user)
        if staff is None:
            result = ActionResult(False, "", allowed=False)
            rendered = None
        else:
            result = await alert_actions.take(session, alert_id, staff, deps.clock())
            rendered = await views.alert_message(session, alert_id) if result.allowed else None
    if staff is None:
        await _ephemeral(client, channel, user, texts.SLACK_NOT_STAFF)
        return
    if rendered is not None:
        await _update(client, body, rendered)
    where = {"channel": channel, **home.origin(body)}
    if not result.allowed:
        await _answer(deps, client, where, user, texts.ALERT_NOT_YOURS)
    elif not result.ok and result.holder != staff.name:  # pressing one's own again: no news
        await _answer(deps, client, where, user, _lost(result))
    elif "home" in where:  # pressed on App Home: Home again, the alert now under 対応中
        await _answer(deps, client, where, user, "")


def _lost(result: ActionResult) -> str:
    if result.state == AlertState.ACKED and result.holder:
        return texts.ALERT_ALREADY_TAKEN.format(name=bk.escape(result.holder))
    return texts.ALERT_ALREADY_DONE


async def on_resolve_button(deps: Deps, client: AsyncWebClient, body: dict[str, Any]) -> None:
    user = body["user"]["id"]
    alert_id = int(body["actions"][0]["value"])
    channel, ts = _where(body)
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, user)
        item = await board.alert_item(session, alert_id) if staff is not None else None
        allowed = await alert_actions.visible(session, alert_id, staff) if staff else False
    where = {"channel": channel, **home.origin(body)}
    if staff is None:
        await _ephemeral(client, channel, user, texts.SLACK_NOT_STAFF)
        return
    if item is None or not allowed:
        await _answer(deps, client, where, user, texts.ALERT_NOT_YOURS)
        return
    if item.state == AlertState.RESOLVED:
        await _answer(deps, client, where, user, texts.ALERT_ALREADY_DONE)
        return
    meta = json.dumps({"alert_id": alert_id, **where, "ts": ts})
    await client.views_open(trigger_id=body["trigger_id"], view=bk.resolve_modal(item, meta))


async def _message_form(
    session: AsyncSession, meta: str, user: str, text: str = "", version: int = 0
) -> tuple[bk.Block | None, str]:
    """The message form for this staff member and the alert or member `meta` names (without
    an alert: from the board or the report view), or None and what to tell them."""
    target = json.loads(meta)
    staff = await board.staff_by_slack(session, user)
    if staff is None:
        return None, texts.SLACK_NOT_STAFF
    if target.get("alert_id") is not None:
        alert_id = int(target["alert_id"])
        item = await board.alert_item(session, alert_id)
        if item is None or not await alert_actions.visible(session, alert_id, staff):
            return None, texts.ALERT_NOT_YOURS
        member_id, name = item.member_id, item.member_name
    else:
        member = await alert_actions.member_for(session, int(target["member_id"]), staff)
        if member is None:
            return None, texts.MEMBER_NOT_YOURS
        member_id, name = member.id, member.name
    account = await alert_actions.member_account(session, member_id)
    if account is None:
        return None, texts.STAFF_MESSAGE_NO_ACCOUNT.format(name=bk.escape(name))
    platform = accounts.platform_label(account[0])
    form = bk.message_modal(
        name, meta, staff=staff.name, platform=platform, text=text, version=version
    )
    return form, ""


async def on_message_button(deps: Deps, client: AsyncWebClient, body: dict[str, Any]) -> None:
    await open_message_form(deps, client, body, {"alert_id": int(body["actions"][0]["value"])})


async def open_message_form(
    deps: Deps, client: AsyncWebClient, body: dict[str, Any], target: dict[str, int]
) -> None:
    """The 「メッセージを送る」 form for `target`: {"alert_id": …} or {"member_id": …}."""
    user = body["user"]["id"]
    channel, ts = _where(body)
    where = {"channel": channel, **home.origin(body)}
    meta = json.dumps({**target, **where, "ts": ts})
    async with deps.db.transaction() as session:
        form, refusal = await _message_form(session, meta, user)
    if form is None:
        await _answer(deps, client, where, user, refusal)
        return
    await client.views_open(trigger_id=body["trigger_id"], view=form)


async def on_template(deps: Deps, client: AsyncWebClient, body: dict[str, Any]) -> None:
    """A 文例 chosen: the form again, with it as the text to edit."""
    view = body.get("view") or {}
    chosen = (body["actions"][0].get("selected_option") or {}).get("value") or ""
    meta = str(view.get("private_metadata") or "{}")
    inputs = [b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"]
    version = int(inputs[0].rsplit(":", 1)[-1]) + 1 if inputs else 1
    async with deps.db.transaction() as session:
        form, _ = await _message_form(session, meta, body["user"]["id"], chosen, version)
    if form is None or chosen not in texts.STAFF_MESSAGE_TEMPLATES:
        return
    try:
        await client.views_update(view_id=view["id"], hash=view.get("hash"), view=form)
    except SlackApiError as exc:  # typed on meanwhile (hash_conflict): their words stay
        log.info("message form not redrawn: %s", slack_error(exc))


def form_target(meta: dict[str, Any]) -> tuple[int | None, int | None]:
    """The alert, or the member without one, that a staff form (message, call) is about."""
    alert_id, member_id = meta.get("alert_id"), meta.get("member_id")
    return (
        int(alert_id) if alert_id is not None else None,
        int(member_id) if member_id is not None else None,
    )


async def on_message_submit(
    deps: Deps, client: AsyncWebClient, body: dict[str, Any], text: str
) -> None:
    user = body["user"]["id"]
    meta = json.loads(body["view"].get("private_metadata") or "{}")
    alert_id, member_id = form_target(meta)
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, user)
        if staff is None:
            return
        result = await alert_actions.send_message(
            session,
            alert_id,
            staff,
            text,
            ref=str(body["view"]["id"]),
            now=deps.clock(),
            member_id=member_id,
        )
    name = bk.escape(result.name)
    if result.sent:
        await deps.flush(everywhere=True)  # the member's platform, and the thread's note
        await _answer(deps, client, meta, user, texts.STAFF_MESSAGE_SENT.format(name=name))
    elif result.allowed:
        await _answer(deps, client, meta, user, texts.STAFF_MESSAGE_NO_ACCOUNT.format(name=name))
    else:
        refused = texts.ALERT_NOT_YOURS if alert_id is not None else texts.MEMBER_NOT_YOURS
        await _answer(deps, client, meta, user, refused)


async def on_resolve_submit(
    deps: Deps, client: AsyncWebClient, body: dict[str, Any], method: str, outcome: str
) -> None:
    user = body["user"]["id"]
    meta = json.loads(body["view"].get("private_metadata") or "{}")
    alert_id, channel = int(meta["alert_id"]), str(meta.get("channel") or "")
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, user)
        if staff is None:
            return
        result = await alert_actions.resolve(
            session, alert_id, staff, method=method, outcome=outcome, now=deps.clock()
        )
        rendered = await views.alert_message(session, alert_id) if result.allowed else None
    if rendered is not None:
        await _update(
            client, {"container": {"channel_id": channel, "message_ts": meta.get("ts")}}, rendered
        )
    if not result.ok:
        await _answer(deps, client, meta, user, texts.ALERT_ALREADY_DONE)
    elif "home" in meta:  # closed from App Home: Home again, without it
        await _answer(deps, client, meta, user, "")


async def _update(
    client: AsyncWebClient, body: dict[str, Any], rendered: tuple[str, list[bk.Block], Any]
) -> None:
    """Rewrite the alert's channel message (and the pressed one, if that was another)."""
    text, blocks, alert = rendered
    targets = []
    if alert.slack_channel and alert.slack_ts:
        targets.append((alert.slack_channel, alert.slack_ts))
    channel, ts = _where(body)
    if channel and ts and (channel, ts) not in targets:
        targets.append((channel, ts))
    for ch, t in targets:
        try:
            await client.chat_update(channel=ch, ts=t, text=text, blocks=blocks)
        except SlackApiError as exc:
            log.warning("alert message update failed: %s", slack_error(exc))


async def _answer(
    deps: Deps, client: AsyncWebClient, where: dict[str, Any], user: str, text: str
) -> None:
    """Tell the staff member: `where` is the pressed message's channel (an ephemeral line),
    or, for a press on App Home (`home`: the day it showed), Home again with `text` on top."""
    if "home" in where:
        await home.publish(deps, client, user, home.meta_day(where), text)
    elif text:
        await _ephemeral(client, str(where.get("channel") or ""), user, text)


async def _ephemeral(client: AsyncWebClient, channel: str, user: str, text: str) -> None:
    """`text` is mrkdwn: anything a person typed in it is escaped already."""
    if not channel:
        return
    try:
        await client.chat_postEphemeral(
            channel=channel, user=user, text=text, blocks=[bk.section(text)]
        )
    except SlackApiError as exc:
        log.warning("ephemeral message failed: %s", slack_error(exc))
