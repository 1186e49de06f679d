"""Use case: alerts that wait for someone to take them (DESIGN §6, issue #15).

The tick loads every untaken crisis/urgent alert and every untaken 相談 of a facility (any
date) into the view; `policy.renotify_actions` says which re-notification is due; this module
writes it as a new outbox row `renotify:{alert}:{step}` to the facility's alert channel, with
the staff ids it must mention (the Slack adapter renders them from the staff rows). The row's
key makes each step happen once, whichever replica ticks.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import payloads, texts
from bot.core.domain import AlertLevel, AlertState, StaffRole
from bot.core.hours import BusinessHours
from bot.core.policy import (
    CONSULT_KIND,
    LADDER_LEVELS,
    Ladder,
    OpenAlert,
    Renotify,
    mention_order,
)
from bot.services.platforms import STAFF_PLATFORM
from storage import repo
from storage.models import Alert, Facility, Member, OutboxMessage, Staff

log = logging.getLogger(__name__)
CHUNK = 1000


async def open_alerts(
    session: AsyncSession, tz: str, offset_minutes: int, ladders: dict[int, Ladder]
) -> list[OpenAlert]:
    """Untaken alerts that can re-notify, of the facilities in one time zone."""
    levels = [level.value for level in LADDER_LEVELS]
    stmt = (
        select(
            Alert.id,
            Alert.member_id,
            Member.facility_id,
            Alert.kind,
            Alert.level,
            Alert.state,
            Alert.opened_at,
            Facility.business_hours,
        )
        .join(Member, Member.id == Alert.member_id)
        .join(Facility, Facility.id == Member.facility_id)
        .where(
            Alert.state == AlertState.OPEN.value,
            Facility.tz == tz,
            or_(Alert.level.in_(levels), Alert.kind == CONSULT_KIND),
        )
        .order_by(Alert.id)
    )
    out = []
    for r in await session.execute(stmt):
        try:
            level = AlertLevel(r.level)
        except ValueError:
            continue
        out.append(
            OpenAlert(
                alert_id=r.id,
                member_id=r.member_id,
                facility_id=r.facility_id,
                kind=r.kind,
                level=level,
                opened_at=r.opened_at,
                tz_offset_minutes=offset_minutes,
                state=r.state,
                ladder=ladders.get(r.facility_id, Ladder()),
                hours=BusinessHours.from_json(r.business_hours),
            )
        )
    return out


async def renotify(
    session: AsyncSession,
    actions: Sequence[Renotify],
    facilities: dict[int, Facility],
    now: datetime,
) -> list[str]:
    """The due re-notifications as outbox rows; the keys of the new ones."""
    if not actions:
        return []
    alerts = await _alerts(session, [a.alert_id for a in actions])
    members = await _members(session, {a.member_id for a in actions})
    mentions = await staff_mentions(session, list(members.values()))
    rows = []
    for a in actions:
        alert = alerts.get(a.alert_id)
        member = members.get(a.member_id)
        facility = facilities.get(a.facility_id)
        if alert is None or alert.state != AlertState.OPEN or member is None or facility is None:
            continue  # taken since the view was loaded
        own, managers = mentions.get(member.id, ([], []))
        users = mention_order(own, managers, a.audience)
        title = texts.CONCERN_TITLES.get(alert.kind, alert.kind)
        text = texts.RENOTIFY_TEXT.format(
            title=title, member=member.name, duration=_duration(a.minutes_open)
        )
        rows.append(
            repo.outbox_row(
                key=a.key,
                platform=STAFF_PLATFORM,
                recipient=facility.alert_channel or "",
                member_id=member.id,
                payload=payloads.Renotify(
                    alert_id=alert.id,
                    step=a.step,
                    level=AlertLevel(alert.level),
                    audience=a.audience,
                    minutes=a.minutes_open,
                    business_minutes=a.business_minutes,
                    mentions=payloads.Mentions(tuple(users)),
                    text=text,
                ),
                now=now,
            )
        )
    new = sorted(await repo.insert_many_ignore(session, OutboxMessage, rows))
    for key in new:
        log.info("renotify", extra={"key": key})
    return new


async def staff_mentions(
    session: AsyncSession, members: Sequence[Member]
) -> dict[int, tuple[list[int], list[int]]]:
    """Per member: the staff ids of their 担当 and 代理, and of the facility's managers (only
    staff the staff platform can reach; the adapter renders the mention from the staff row)."""
    if not members:
        return {}
    staff = (
        await session.execute(
            select(Staff.id, Staff.facility_id, Staff.role, Staff.slack_user_id)
            .where(
                Staff.facility_id.in_({m.facility_id for m in members}),
                Staff.active.is_(True),
                Staff.slack_user_id.is_not(None),
            )
            .order_by(Staff.id)
        )
    ).all()
    reachable = {sid for sid, _, _, user in staff if user}
    managers: dict[int, list[int]] = defaultdict(list)
    for sid, fid, role, user in staff:
        if role == StaffRole.MANAGER.value and user:
            managers[fid].append(sid)
    out = {}
    for m in members:
        own = [i for i in (m.primary_staff_id, m.substitute_staff_id) if i in reachable]
        out[m.id] = (list(dict.fromkeys(own)), managers[m.facility_id])
    return out


def _duration(minutes: int) -> str:
    h, m = divmod(max(minutes, 0), 60)
    return f"{h}時間{m}分" if h else f"{m}分"


async def _alerts(session: AsyncSession, ids: Iterable[int]) -> dict[int, Alert]:
    out: dict[int, Alert] = {}
    ids = sorted(set(ids))
    for i in range(0, len(ids), CHUNK):
        rows = await session.scalars(select(Alert).where(Alert.id.in_(ids[i : i + CHUNK])))
        out.update((a.id, a) for a in rows)
    return out


async def _members(session: AsyncSession, ids: Iterable[int]) -> dict[int, Member]:
    out: dict[int, Member] = {}
    ids = sorted(set(ids))
    for i in range(0, len(ids), CHUNK):
        rows = await session.scalars(select(Member).where(Member.id.in_(ids[i : i + CHUNK])))
        out.update((m.id, m) for m in rows)
    return out
