"""Raising staff alerts: one row per alert key, one outbox message to the staff channel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import payloads, texts
from bot.core.domain import AlertLevel, AlertState
from bot.services import consent
from bot.services.platforms import STAFF_PLATFORM
from storage import repo
from storage.models import Alert, Facility, Member, OutboxMessage


async def raise_alert(
    session: AsyncSession,
    *,
    facility: Facility,
    member: Member,
    day: date,
    kind: str,
    level: AlertLevel,
    detail: str,
    key: str,
    now: datetime,
) -> int | None:
    """Open an alert once per key and tell staff; None if that alert exists already."""
    request = AlertRequest(facility, member, day, kind, level, detail, key)
    return (await raise_alerts(session, [request], now)).get(key)


def _md(d: date) -> str:
    return f"{d.month}/{d.day}"


@dataclass(frozen=True)
class AlertRequest:
    facility: Facility
    member: Member
    day: date
    kind: str
    level: AlertLevel
    detail: str
    key: str


async def raise_alerts(
    session: AsyncSession, requests: Sequence[AlertRequest], now: datetime
) -> dict[str, int]:
    """Open alerts once per key and tell staff, in a few multi-row statements (the
    scheduler's bursts come through here too). Returns {key: alert id} of the new ones."""
    new = await repo.insert_many_ignore(
        session,
        Alert,
        [
            dict(
                key=r.key,
                member_id=r.member.id,
                business_date=r.day,
                kind=r.kind,
                level=r.level.value,
                state=AlertState.OPEN.value,
                detail=r.detail,
                opened_at=now,
            )
            for r in requests
        ],
    )
    notices = []
    covers = await _covers(session, [r for r in requests if r.key in new])
    for r in requests:
        if r.key not in new:
            continue
        title = texts.CONCERN_TITLES.get(r.kind, r.kind)
        template = {
            AlertLevel.INFO: texts.STAFF_INFO,
            AlertLevel.CRISIS: texts.STAFF_CRISIS,
        }.get(r.level, texts.STAFF_ALERT)
        # minimal disclosure, or no consent covering Slack (APPI, DESIGN §10): who and what
        # kind leave for Slack, not what the member said or answered.
        shown = consent.alert_detail(r.kind, r.facility.disclosure, covers[r.member.id])
        detail = r.detail if shown else ""
        text = template.format(title=title, member=r.member.name, date=_md(r.day), detail=detail)
        text = text.rstrip()
        notices.append(
            repo.outbox_row(
                key=f"notify:{r.key}",
                platform=STAFF_PLATFORM,
                recipient=r.facility.alert_channel or "",
                member_id=r.member.id,
                payload=payloads.Alert(new[r.key], r.level, text),
                now=now,
            )
        )
    await repo.insert_many_ignore(session, OutboxMessage, notices)
    return new


async def _covers(
    session: AsyncSession, requests: Sequence[AlertRequest]
) -> dict[int, frozenset[str]]:
    """What each member's consent covers now, in one query for the whole burst."""
    terms = await consent.terms_of(session, {r.member.id for r in requests})
    return {member_id: consent.current(t) for member_id, t in terms.items()}
