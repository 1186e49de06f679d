"""The records surfaces: `/nippo log|eval|month|export`, the report's 修正 and 確認(サイン)
buttons, and the digest's sign-off button. The use cases live in bot.services.records,
bot.queries.exports and bot.queries.compliance_report; this module only parses Slack's
payloads and renders the answers."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.slack import blocks as bk
from adapters.slack import record_blocks as rb
from adapters.slack.answer import Answer, _say
from adapters.slack.deps import Deps
from adapters.slack.errors import slack_error
from bot.core import payloads as pl
from bot.core import texts
from bot.core.calendar import business_date
from bot.core.domain import StaffRole
from bot.queries import board, compliance_report, exports
from bot.queries.record_lines import flag_warnings
from bot.services import admin, records
from bot.services.admin import AdminError
from storage.models import DailyReport, Facility, Member, OutboxMessage

if TYPE_CHECKING:
    from adapters.slack.commands import _Ctx

log = logging.getLogger(__name__)
FORMATS = ("csv", "xlsx")


def _refuse(reason: str) -> str:
    return texts.SLACK_RECORDS_ERROR.format(reason=bk.escape(reason))


# --- commands ------------------------------------------------------------------------------


async def log_contact(ctx: _Ctx, args: Sequence[str]) -> Answer:
    words = list(args)
    at = next((i for i, w in enumerate(words) if w in records.CONTACT_METHODS), None)
    if at is None or at == 0 or at == len(words) - 1:
        return _say(texts.SLACK_LOG_USAGE)
    member = await ctx._member(words[:at], "log")
    if not isinstance(member, Member):
        return member
    text = " ".join(words[at + 1 :])
    try:
        record = await records.log_contact(
            ctx.session, member.id, ctx.staff.id, words[at], text, ctx.now, ctx.now
        )
    except AdminError as exc:
        return _say(_refuse(str(exc)))
    await ctx.audit("slack.log_contact", f"member:{member.id}", method=words[at])
    done = texts.SLACK_LOGGED.format(name=bk.escape(member.name), method=words[at])
    nudges = flag_warnings(record.flags, {"content": texts.CONTACT_TEXT_LABEL})
    return _say("\n".join([done, *nudges]))


async def evaluation_form(ctx: _Ctx, args: Sequence[str]) -> Answer:
    words = list(args)
    if len(words) < 2 or words[-1].lower() not in records.EVALUATION_KINDS:
        return _say(texts.SLACK_EVAL_USAGE)
    kind = words.pop().lower()
    member = await ctx._member(words, "eval")
    if not isinstance(member, Member):
        return member
    meta = json.dumps({"member_id": member.id, "kind": kind})
    return Answer([], "", modal=rb.eval_modal(kind, member.name, meta))


def _is_manager(ctx: _Ctx) -> bool:
    return ctx.staff.role == StaffRole.MANAGER.value


async def month(ctx: _Ctx, args: Sequence[str]) -> Answer:
    if not _is_manager(ctx):
        return _say(texts.SLACK_MANAGERS_ONLY)
    today = business_date(ctx.facility.tz, ctx.now)
    try:
        first = exports.parse_month(args[0]) if args else today.replace(day=1)
    except AdminError:
        return _say(texts.SLACK_EXPORT_USAGE)
    view = await compliance_report.month_view(ctx.session, ctx.facility, first)
    current = first == today.replace(day=1)
    deadlines = (
        await compliance_report.coming_deadlines(ctx.session, ctx.facility, today)
        if current
        else ()
    )
    await ctx.audit("slack.month", f"facility:{ctx.facility.id}", month=f"{first:%Y-%m}")
    text = bk.escape(compliance_report.render_month(view, deadlines))
    return Answer(rb.month_messages(text), bk.clip(text.split("\n")[0], 3000))


async def export(ctx: _Ctx, args: Sequence[str]) -> Answer:
    if not _is_manager(ctx):
        return _say(texts.SLACK_MANAGERS_ONLY)
    words = list(args)
    if not words or words[0] not in exports.KINDS:
        return _say(texts.SLACK_EXPORT_USAGE)
    kind, rest = words[0], words[1:]
    fmt = rest.pop().lower() if rest and rest[-1].lower() in FORMATS else "csv"
    first = business_date(ctx.facility.tz, ctx.now).replace(day=1)
    if rest:
        try:
            first = exports.parse_month(rest[0])
            rest = rest[1:]
        except AdminError:
            pass
    member = None
    if rest:
        found = await ctx._member(rest, "export")
        if not isinstance(found, Member):
            return found
        member = found
    try:
        table, data = await exports.export(
            ctx.session, ctx.facility, kind, first, fmt=fmt, now=ctx.now, actor=ctx.actor,
            member=member,
        )  # fmt: skip
    except AdminError as exc:
        return _say(_refuse(str(exc)))
    name = exports.filename(kind, first, member, fmt)
    done = texts.SLACK_EXPORT_DONE.format(title=bk.escape(table.title), month=f"{first:%Y-%m}")
    return Answer([[bk.section(done)]], done, upload=(name, data, table.title))


async def report_footer(ctx: _Ctx, member: Member, day: date) -> list[bk.Block]:
    history = await records.report_history(ctx.session, member.id, day)
    reach = rb.member_actions(member.id)  # write to them or log a call, with no alert needed
    if history is None:  # no 日報, yet staff may have logged a contact that day
        found = await records.day_records(ctx.session, member.id, day)
        return [*rb.day_records_blocks(found, ctx.facility.tz), reach]
    return [*rb.report_actions(history, ctx.facility.tz), reach]


# Slack's answers that no retry fixes: the app lacks a permission or the workspace forbids it.
UPLOAD_REFUSED = {
    "missing_scope",
    "not_allowed_token_type",
    "no_permission",
    "restricted_action",
    "file_uploads_disabled",
    "file_uploads_except_images_disabled",
    "invalid_auth",
    "not_authed",
    "account_inactive",
}


async def upload(client: AsyncWebClient, user: str, file: tuple[str, bytes, str]) -> str | None:
    """Exports go to the manager's DM with the bot, never to the channel they typed in.
    None once uploaded; else what to tell the manager (in Japanese: what failed, what to do)."""
    name, data, title = file
    try:
        opened = await client.conversations_open(users=user)
        channel = str((opened.get("channel") or {}).get("id") or "")
        await client.files_upload_v2(channel=channel, content=data, filename=name, title=title)
    except SlackApiError as exc:
        error = slack_error(exc)
    except (SlackRequestError, aiohttp.ClientError, TimeoutError) as exc:  # no answer at all
        error = type(exc).__name__
    else:
        return None
    log.warning("export upload failed: %s", error)
    what = texts.SLACK_EXPORT_REFUSED if error in UPLOAD_REFUSED else texts.SLACK_EXPORT_RETRY
    return texts.SLACK_EXPORT_FAILED.format(title=bk.escape(title), error=bk.escape(error)) + what


# --- buttons and modals --------------------------------------------------------------------


def register(bolt: AsyncApp, deps: Deps) -> None:
    @bolt.view(rb.VIEW_EVAL)
    async def eval_submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        errors = await on_eval_submit(deps, body, view)
        if errors:
            await ack(response_action="errors", errors=errors)
        else:
            await ack()

    @bolt.action(rb.ACTION_REPORT_EDIT)
    async def edit_button(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        meta = json.dumps({"report_id": int(body["actions"][0]["value"])})
        await client.views_open(trigger_id=body["trigger_id"], view=rb.report_edit_modal(meta))

    @bolt.view(rb.VIEW_REPORT_EDIT)
    async def edit_submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        errors = await on_edit_submit(deps, body, view)
        if errors:
            await ack(response_action="errors", errors=errors)
        else:
            await ack()

    @bolt.action(rb.ACTION_REPORT_SIGN)
    async def sign(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await on_report_sign(deps, client, body)

    @bolt.action(rb.ACTION_DIGEST_SIGN)
    async def sign_day(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await on_digest_sign(deps, client, body)


def _value(values: dict[str, Any], block: str) -> str:
    element = (values.get(block) or {}).get(block) or {}
    if element.get("selected_option"):
        return str(element["selected_option"].get("value") or "")
    return str(element.get("value") or "").strip()


async def on_eval_submit(deps: Deps, body: dict[str, Any], view: dict[str, Any]) -> dict[str, str]:
    meta = json.loads(view.get("private_metadata") or "{}")
    values = view["state"]["values"]
    kind = str(meta.get("kind"))
    sheet = {f: _value(values, f) or None for f in records.SHEET_FIELDS if f in values}
    if kind == "weekly":
        sheet = {"activities": _value(values, "note") or None}
        if not sheet["activities"]:
            return {"note": texts.EVAL_NOTE_LABEL}
    now = deps.clock()
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, body["user"]["id"])
        if staff is None:
            return {"method": texts.SLACK_NOT_STAFF}
        facility = await session.get_one(Facility, staff.facility_id)
        try:
            await records.record_evaluation(
                session, int(meta["member_id"]), kind=kind, day=business_date(facility.tz, now),
                method=_value(values, "method"), now=now, staff_id=staff.id, **sheet,
            )  # fmt: skip
        except AdminError as exc:
            return {"method": bk.clip(str(exc), 150)}
        await admin.audit(
            session, actor=f"staff:{staff.id}", action="slack.evaluation",
            target=f"member:{meta['member_id']}", now=now, kind=kind,
        )  # fmt: skip
    return {}


async def on_edit_submit(deps: Deps, body: dict[str, Any], view: dict[str, Any]) -> dict[str, str]:
    meta = json.loads(view.get("private_metadata") or "{}")
    values = view["state"]["values"]
    now = deps.clock()
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, body["user"]["id"])
        if staff is None:
            return {"value": texts.SLACK_NOT_STAFF}
        reason = _value(values, "reason")
        if not reason:
            return {"reason": texts.REASON_REQUIRED}
        try:
            await records.staff_edit(
                session, int(meta["report_id"]), _value(values, "field"),
                _value(values, "value"), staff.id, now, reason=reason,
            )  # fmt: skip
        except AdminError:
            return {"value": texts.REPORT_EDIT_HINT}
    return {}


def _where(body: dict[str, Any]) -> tuple[str, str | None]:
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
    ts = None if container.get("is_ephemeral") else container.get("message_ts")
    return str(channel), ts


async def _tell(client: AsyncWebClient, body: dict[str, Any], text: str) -> None:
    channel, _ = _where(body)
    if channel:
        try:
            await client.chat_postEphemeral(
                channel=channel, user=body["user"]["id"], text=text, blocks=[bk.section(text)]
            )
        except SlackApiError as exc:
            log.warning("ephemeral message failed: %s", slack_error(exc))


async def on_report_sign(deps: Deps, client: AsyncWebClient, body: dict[str, Any]) -> None:
    report_id = int(body["actions"][0]["value"])
    now = deps.clock()
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, body["user"]["id"])
        if staff is None:
            text = texts.SLACK_NOT_STAFF
        else:
            try:
                await records.sign_off(session, report_id, staff.id, now, channel="slack")
                report = await session.get_one(DailyReport, report_id)
                facility = await session.get_one(Facility, staff.facility_id)
                text = texts.REPORT_SIGNED.format(
                    name=bk.escape(staff.name), time=bk.hm(now, facility.tz)
                )
                await admin.audit(
                    session, actor=f"staff:{staff.id}", action="slack.sign_off",
                    target=f"member:{report.member_id}", now=now, report_id=report_id,
                )  # fmt: skip
            except AdminError as exc:
                text = _refuse(str(exc))
    await _tell(client, body, text)


async def on_digest_sign(deps: Deps, client: AsyncWebClient, body: dict[str, Any]) -> None:
    facility_id, _, day = str(body["actions"][0]["value"]).partition(":")
    now = deps.clock()
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, body["user"]["id"])
        if staff is None or staff.facility_id != int(facility_id):
            text = texts.SLACK_NOT_STAFF
            payload = None
        else:
            facility = await session.get_one(Facility, staff.facility_id)
            count = await records.sign_off_day(
                session, facility.id, date.fromisoformat(day), staff.id, now
            )
            await admin.audit(
                session, actor=f"staff:{staff.id}", action="slack.sign_off_day",
                target=f"facility:{facility.id}", now=now, day=day, reports=count,
            )  # fmt: skip
            text = texts.DIGEST_SIGNED.format(
                name=bk.escape(staff.name), time=bk.hm(now, facility.tz)
            )
            payload = await _digest_payload(session, body)
    channel, ts = _where(body)
    if payload is None or not ts:
        await _tell(client, body, text)
        return
    blocks = rb.digest_message(payload, facility.tz, signed=text)
    await client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)


async def _digest_payload(session: AsyncSession, body: dict[str, Any]) -> pl.Digest | None:
    """The digest's outbox payload, found by the message's ts (kept as its external id)."""
    ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts")
    if not ts:
        return None
    row = (
        await session.execute(select(OutboxMessage).where(OutboxMessage.external_id == str(ts)))
    ).scalar_one_or_none()
    if row is None:
        return None
    try:
        payload = pl.from_json(row.payload)
    except pl.PayloadError:
        return None
    return payload if isinstance(payload, pl.Digest) else None
