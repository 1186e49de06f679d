"""App Home: the staff's workspace (issue #19). The board of a day the viewer picks, the
alerts waiting and those they hold (their buttons are the alert messages' own, handled in
alerts.py, which publishes Home again after a press from here), their 担当, and quick
actions: log a contact, open an evaluation, export this month, open the web console."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.slack import blocks as bk
from adapters.slack import commands, recordkeeping
from adapters.slack import home_blocks as hb
from adapters.slack import record_blocks as rb
from adapters.slack.deps import Deps
from adapters.slack.errors import slack_error
from adapters.slack.views import CONTACT_LEVELS
from bot.core import texts
from bot.core.calendar import business_date
from bot.core.domain import StaffRole
from bot.queries import board
from bot.queries.board import LEVEL_ORDER
from bot.queries.record_lines import flag_warnings
from bot.services import admin, consent, records
from bot.services.admin import AdminError
from bot.services.alert_actions import QUIET_KINDS
from bot.services.emergency_contacts import contacts_of
from storage.models import Facility, Member, Staff

log = logging.getLogger(__name__)


def register(bolt: AsyncApp, deps: Deps) -> None:
    @bolt.event("app_home_opened")
    async def on_home(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        await publish(deps, client, str(event["user"]))  # today: each opening starts there

    @bolt.action(hb.ACTION_DATE)
    async def pick_date(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        picked = body["actions"][0].get("selected_date") or ""
        day = _parse_day(picked)
        await publish(deps, client, body["user"]["id"], day)

    @bolt.action(hb.ACTION_LOG)
    async def log_form(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await open_form(deps, client, body, "log")

    @bolt.action(hb.ACTION_EVAL)
    async def eval_form(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await open_form(deps, client, body, "eval")

    @bolt.view(hb.VIEW_CONTACT)
    async def contact_submit(
        ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        errors, note = await on_contact_submit(deps, body, view)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        day = meta_day(json.loads(view.get("private_metadata") or "{}"))
        await publish(deps, client, body["user"]["id"], day, note)

    @bolt.view(hb.VIEW_EVAL_PICK)
    async def eval_pick(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        form, errors = await on_eval_pick(deps, body, view)
        if form is None:
            await ack(response_action="errors", errors=errors)
        else:  # step two: the very form `/nippo eval` opens, handled where that one is
            await ack(response_action="update", view=form)

    @bolt.action(hb.ACTION_EXPORT)
    async def export(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await on_export(deps, client, body)

    @bolt.action(hb.ACTION_WEB)
    async def web(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user = body["user"]["id"]
        answer = await commands.run(deps, {"user_id": user, "text": "web"})
        await publish(deps, client, user, hb.shown_day(body.get("view")), answer.text)


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def meta_day(meta: dict[str, Any]) -> date | None:
    """The day Home showed when a form was opened from it (see `origin`)."""
    return _parse_day(str(meta.get("home") or ""))


def on_home_tab(body: dict[str, Any]) -> bool:
    """Whether a button was pressed on App Home (no channel message behind it)."""
    return (body.get("container") or {}).get("type") == "view" and hb.shown_day(
        body.get("view")
    ) is not None


def origin(body: dict[str, Any]) -> dict[str, str]:
    """For a form opened from Home: the day Home showed, to publish it again after."""
    day = hb.shown_day(body.get("view")) if on_home_tab(body) else None
    return {"home": day.isoformat()} if day is not None else {}


async def republish(deps: Deps, client: AsyncWebClient, body: dict[str, Any], note: str) -> None:
    """After a press on Home: Home again, for the day it showed, with `note` on top."""
    await publish(deps, client, body["user"]["id"], hb.shown_day(body.get("view")), note)


async def publish(
    deps: Deps, client: AsyncWebClient, user: str, day: date | None = None, note: str = ""
) -> None:
    view = await home_for(deps, user, day, note)
    try:
        await client.views_publish(user_id=user, view=view)
    except SlackApiError as exc:
        log.warning("app home publish failed: %s", slack_error(exc), extra={"slack_user": user})


async def home_for(deps: Deps, user: str, day: date | None = None, note: str = "") -> bk.Block:
    """The viewer's Home for `day` (the business day today when None)."""
    now = deps.clock()
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, user)
        if staff is None:
            return hb.home_view(None)
        facility = await session.get_one(Facility, staff.facility_id)
        day = day or business_date(facility.tz, now)
        b = await board.status_board(session, facility, day, now)
        alerts = await board.open_alerts(session, facility)
        mine = await board.open_alerts(session, facility, acked_by=staff.id)
        waiting = sorted(
            (a for a in alerts if a.state == "open" and a.kind not in QUIET_KINDS),
            key=lambda a: (LEVEL_ORDER.get(a.level, 9), a.opened_at),
        )
        assigned = await _assigned(session, facility, staff)
        # what Slack may show is the facility's setting and each member's consent (APPI)
        member_ids = {r.member_id for r in b.rows} | {a.member_id for a in [*waiting, *mine]}
        details = await consent.slack_detail_members(session, facility, member_ids)
        show = await _alert_show(session, facility, [*waiting, *mine], details)
        await admin.audit(
            session,
            actor=f"staff:{staff.id}",
            action="slack.home",
            target=f"facility:{facility.id}",
            now=now,
            day=day.isoformat(),
        )
    return hb.home_view(
        b,
        mine,
        note,
        waiting=waiting,
        assigned=assigned,
        show=show,
        full=facility.disclosure != "minimal",
        details=details,
        manager=staff.role == StaffRole.MANAGER.value,
    )


async def _assigned(session: AsyncSession, facility: Facility, staff: Staff) -> list[hb.Assigned]:
    members = await admin.list_members(session, facility)
    return [
        hb.Assigned(m.id, m.name, substitute=m.primary_staff_id != staff.id)
        for m in members
        if staff.id in (m.primary_staff_id, m.substitute_staff_id)
    ]


async def _alert_show(
    session: AsyncSession, facility: Facility, items: list[board.AlertItem], details: set[int]
) -> hb.AlertShow:
    """As views.digest_message decides for a digest: details, consent notes, contacts."""
    member_ids = {a.member_id for a in items}
    withheld = set() if facility.disclosure == "minimal" else member_ids - details
    contacts = {}
    for a in items:
        if a.level in CONTACT_LEVELS:
            contacts[a.alert_id] = contacts_of(await session.get_one(Member, a.member_id))
    return hb.AlertShow(details=details, withheld=withheld, contacts=contacts)


# --- quick actions -------------------------------------------------------------------------


async def _choices(session: AsyncSession, staff: Staff) -> list[hb.Assigned]:
    """Members to pick from: the viewer's 担当 first, then everyone else of the facility."""
    facility = await session.get_one(Facility, staff.facility_id)
    members = await admin.list_members(session, facility)
    mine = [m for m in members if staff.id in (m.primary_staff_id, m.substitute_staff_id)]
    rest = [m for m in members if m not in mine]
    return [hb.Assigned(m.id, m.name) for m in [*mine, *rest]]


async def open_form(deps: Deps, client: AsyncWebClient, body: dict[str, Any], which: str) -> None:
    user = body["user"]["id"]
    meta = json.dumps(origin(body))
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, user)
        if staff is None:
            return
        facility = await session.get_one(Facility, staff.facility_id)
        choices = await _choices(session, staff)
    if not choices:
        await republish(deps, client, body, texts.HOME_NO_MEMBERS)
        return
    if which == "log":
        now_hm = deps.clock().astimezone(ZoneInfo(facility.tz)).strftime("%H:%M")
        form = hb.contact_modal(choices, list(records.CONTACT_METHODS), now_hm, meta)
    else:
        form = hb.eval_pick_modal(choices, meta)
    await client.views_open(trigger_id=body["trigger_id"], view=form)


def _picked(values: dict[str, Any], block: str) -> str:
    element = (values.get(block) or {}).get(block) or {}
    if "selected_option" in element:
        return str((element.get("selected_option") or {}).get("value") or "")
    if "selected_time" in element:
        return str(element.get("selected_time") or "")
    return str(element.get("value") or "").strip()


async def _member(session: AsyncSession, staff: Staff, member_id: str) -> Member | None:
    """The picked member, only if they belong to the viewer's facility."""
    member = await session.get(Member, int(member_id)) if member_id.isdigit() else None
    return member if member is not None and member.facility_id == staff.facility_id else None


async def on_contact_submit(
    deps: Deps, body: dict[str, Any], view: dict[str, Any]
) -> tuple[dict[str, str], str]:
    """The contact as a 支援記録 through the same use case as `/nippo log`: `at` the moment
    it happened (today, at the time given), entered now by the viewer. Errors by block, or
    what Home says once it is kept."""
    values = view["state"]["values"]
    method, text = _picked(values, "method"), _picked(values, "text")
    if not text:
        return {"text": texts.HOME_CONTACT_EMPTY}, ""
    now = deps.clock()
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, body["user"]["id"])
        if staff is None:
            return {"member": texts.SLACK_NOT_STAFF}, ""
        member = await _member(session, staff, _picked(values, "member"))
        if member is None:
            return {"member": texts.MEMBER_NOT_YOURS}, ""
        facility = await session.get_one(Facility, staff.facility_id)
        try:
            hh, mm = (int(x) for x in _picked(values, "at").split(":"))
            local_day = now.astimezone(ZoneInfo(facility.tz)).date()
            at = datetime.combine(local_day, time(hh, mm), tzinfo=ZoneInfo(facility.tz))
        except ValueError:
            at = now
        try:
            record = await records.log_contact(session, member.id, staff.id, method, text, at, now)
        except AdminError as exc:
            block = "at" if "時刻" in str(exc) else "method"
            return {block: bk.clip(str(exc), 150)}, ""
        await admin.audit(
            session, actor=f"staff:{staff.id}", action="slack.log_contact",
            target=f"member:{member.id}", now=now, method=method, via="home",
        )  # fmt: skip
        done = texts.SLACK_LOGGED.format(name=bk.escape(member.name), method=method)
        nudges = flag_warnings(record.flags, {"content": texts.CONTACT_TEXT_LABEL})
    return {}, "\n".join([done, *nudges])


async def on_eval_pick(
    deps: Deps, body: dict[str, Any], view: dict[str, Any]
) -> tuple[bk.Block | None, dict[str, str]]:
    """Step one's answer: the evaluation form for that member and kind, as `/nippo eval`."""
    values = view["state"]["values"]
    kind = _picked(values, "kind")
    if kind not in records.EVALUATION_KINDS:
        return None, {"kind": texts.HOME_EVAL_KIND}
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, body["user"]["id"])
        if staff is None:
            return None, {"member": texts.SLACK_NOT_STAFF}
        member = await _member(session, staff, _picked(values, "member"))
        if member is None:
            return None, {"member": texts.MEMBER_NOT_YOURS}
        meta = json.dumps({"member_id": member.id, "kind": kind})
        return rb.eval_modal(kind, member.name, meta), {}


async def on_export(deps: Deps, client: AsyncWebClient, body: dict[str, Any]) -> None:
    """This month's export of the chosen kind: `/nippo export KIND` run for the viewer (the
    same checks, audit and file), the file to their DM; Home says how it went."""
    user = body["user"]["id"]
    kind = str((body["actions"][0].get("selected_option") or {}).get("value") or "")
    if kind not in texts.HOME_EXPORT_KINDS:
        return
    answer = await commands.run(deps, {"user_id": user, "text": f"export {kind}"})
    note = answer.text
    if answer.upload is not None:
        failed = await recordkeeping.upload(client, user, answer.upload)
        note = failed if failed is not None else f"{answer.text}{texts.HOME_EXPORT_SENT}"
    await republish(deps, client, body, note)
