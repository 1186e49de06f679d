"""Database → Block Kit: load a read model inside the caller's transaction and render it."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.slack import blocks as bk
from bot.core import payloads as pl
from bot.core import texts
from bot.core.calendar import business_date
from bot.core.domain import AlertLevel, AlertState
from bot.queries import board
from bot.services import consent, records
from bot.services.emergency_contacts import EmergencyContact, contacts_of
from storage import repo
from storage.models import Alert, Facility, Member, Staff


async def alert_message(
    session: AsyncSession, alert_id: int
) -> tuple[str, list[bk.Block], Alert] | None:
    """The alert as posted (or updated) in the staff channel: fallback text, blocks, row.

    An alert sharing its message is re-rendered with the whole message: one member's alerts
    of the day (`member_day_message`), or a digest of several members' (`digest_message`).
    """
    item = await board.alert_item(session, alert_id)
    alert = await session.get(Alert, alert_id)
    if item is None or alert is None:
        return None
    if alert.slack_ts is not None:
        stmt = (
            select(Alert.id)
            .where(Alert.slack_channel == alert.slack_channel, Alert.slack_ts == alert.slack_ts)
            .order_by(Alert.id)
        )
        shared = list((await session.execute(stmt)).scalars())
        if len(shared) > 1:
            text, blocks = await shared_message(session, shared)
            return text, blocks, alert
    return await single_alert(session, item, alert)


async def shared_message(session: AsyncSession, alert_ids: list[int]) -> tuple[str, list[bk.Block]]:
    """Several alerts in one message: one member's day when they are all one member's (and
    fit), else the compact digest."""
    members = await session.scalars(select(Alert.member_id).where(Alert.id.in_(alert_ids)))
    if len(set(members)) == 1 and (day := await member_day_message(session, alert_ids)):
        return day
    return await digest_message(session, alert_ids)


# Room a message keeps for what the sender puts above its blocks (mentions, a late note).
SENDER_BLOCKS = 2


async def member_day_message(
    session: AsyncSession, alert_ids: list[int]
) -> tuple[str, list[bk.Block]] | None:
    """One member's alerts of one day as one message, the most serious open one on top with
    the day's latest answers, each with its state and (while open) its buttons. None when
    they would not fit in one message (then the compact digest layout carries them)."""
    found = [i for i in [await board.alert_item(session, a) for a in alert_ids] if i is not None]
    items = bk.latest_first(found)
    if not items:
        return None
    groups = []
    for n, item in enumerate(items):
        alert = await session.get_one(Alert, item.alert_id)
        _, blocks, _ = await single_alert(session, item, alert, latest=n == 0)
        groups.append(blocks)
    day = (await session.get_one(Alert, items[0].alert_id)).business_date
    if 1 + sum(len(g) + 1 for g in groups) > bk.MAX_MESSAGE_BLOCKS - SENDER_BLOCKS:
        return None
    return bk.alert_fallback(items[0]), bk.member_day_blocks(items[0], groups, len(items), day)


# Alerts that carry the member's emergency contacts. They go to the staff-only alert channel
# whatever the disclosure (who to call is what staff need to act in an emergency, R3 and
# 日立市 (4)); a contact's note follows the disclosure, since it may say something about health.
CONTACT_LEVELS = frozenset({AlertLevel.URGENT.value, AlertLevel.CRISIS.value})


def _contacts(level: str, member: Member) -> list[EmergencyContact] | None:
    return contacts_of(member) if level in CONTACT_LEVELS else None


async def single_alert(
    session: AsyncSession, item: board.AlertItem, alert: Alert, *, latest: bool = True
) -> tuple[str, list[bk.Block], Alert]:
    """One alert alone, with the member's latest answers (when `latest`) when the facility's
    disclosure and the member's consent both allow details in Slack."""
    member = await session.get_one(Member, item.member_id)
    facility = await session.get_one(Facility, member.facility_id)
    covers = await consent.current_covers(session, member.id)
    full = consent.slack_details(facility.disclosure, covers)
    operational = item.kind in consent.OPERATIONAL_ALERT_KINDS  # no answers to withhold
    answers = None
    if full and latest:
        day = business_date(facility.tz, item.opened_at)
        report = await repo.report_for(session, member.id, day)
        answers = repo.snapshot(report, day) if report is not None else None
    blocks = bk.alert_blocks(
        item,
        facility.tz,
        answers,
        full=full,
        withheld=facility.disclosure != "minimal" and not full and not operational,
        contacts=_contacts(item.level, member),
        detail=consent.alert_detail(item.kind, facility.disclosure, covers),
    )
    return bk.alert_fallback(item), blocks, alert


def parse_day(word: str) -> date | None:
    try:
        return date.fromisoformat(word.replace("/", "-"))
    except ValueError:
        return None


async def digest_message(session: AsyncSession, alert_ids: list[int]) -> tuple[str, list[bk.Block]]:
    items = [i for i in [await board.alert_item(session, a) for a in alert_ids] if i is not None]
    member = await session.get_one(Member, items[0].member_id)
    facility = await session.get_one(Facility, member.facility_id)
    member_ids = {i.member_id for i in items}
    details = await consent.slack_detail_members(session, facility, member_ids)
    withheld = set() if facility.disclosure == "minimal" else member_ids - details
    contacts: dict[int, list[EmergencyContact]] = {}
    for i in items:
        found = _contacts(i.level, await session.get_one(Member, i.member_id))
        if found is not None:
            contacts[i.alert_id] = found
    text = texts.ALERT_DIGEST_TITLE.format(count=len(items))
    blocks = bk.digest_blocks(
        items, facility.tz, details=details, withheld=withheld, contacts=contacts
    )
    return text, blocks


async def alert_mentions(session: AsyncSession, alert_id: int) -> list[bk.Block]:
    """担当, 代理, then managers, mentioned above a new alert (only staff with a Slack id)."""
    return await digest_mentions(session, [alert_id])


async def digest_mentions(session: AsyncSession, alert_ids: list[int]) -> list[bk.Block]:
    """One mention line for a message of several alerts: everyone any of them must ping, in
    each alert's order (担当, 代理, managers), each person once."""
    staff: list[int] = []
    for alert_id in alert_ids:
        alert = await session.get(Alert, alert_id)
        member = await session.get(Member, alert.member_id) if alert and alert.member_id else None
        if member is not None:
            staff.extend(await records.mention_order(session, member))
    return await mention_blocks(session, pl.Mentions(tuple(dict.fromkeys(staff))))


async def mention_blocks(session: AsyncSession, mentions: pl.Mentions) -> list[bk.Block]:
    """The staff a payload names, as one section of real mentions: each staff row's Slack
    user id as it is now (staff who left or have no Slack id are not pinged), in order."""
    users: list[str] = []
    if mentions.staff_ids:
        rows = await session.scalars(
            select(Staff).where(Staff.id.in_(mentions.staff_ids), Staff.active.is_(True))
        )
        slack_ids = {s.id: s.slack_user_id for s in rows}
        users = [u for i in mentions.staff_ids if (u := slack_ids.get(i))]
    return bk.mention_section([*users, *mentions.legacy_user_ids])


async def renotify_message(
    session: AsyncSession, payload: pl.Renotify
) -> tuple[str, list[bk.Block]] | None:
    """A re-notification: a new message that mentions the step's people, says how long the
    alert has waited, and carries the alert with its buttons. None once it is taken."""
    alert = await session.get(Alert, payload.alert_id)
    item = await board.alert_item(session, alert.id) if alert is not None else None
    if alert is None or item is None or alert.state != AlertState.OPEN:
        return None
    _, blocks, _ = await single_alert(session, item, alert)
    mentions = await mention_blocks(session, payload.mentions)
    head = bk.renotify_head(alert.level, payload.minutes, consult=payload.business_minutes)
    given = payload.text
    text = bk.clip(bk.escape(given), 3000) if given else bk.alert_fallback(item)
    return text, [*mentions, head, *blocks][: bk.MAX_MESSAGE_BLOCKS]
