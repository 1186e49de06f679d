"""Raising staff alerts: one row per alert key, one outbox message to the staff channel."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.domain import AlertLevel
from storage import repo
from storage.models import Alert, Facility, Member

STAFF_PLATFORM = "slack"


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
    alert_id = await repo.insert_ignore(
        session,
        Alert,
        key=key,
        member_id=member.id,
        business_date=day,
        kind=kind,
        level=level.value,
        state="open",
        detail=detail,
        opened_at=now,
    )
    if alert_id is None:
        return None
    title = texts.CONCERN_TITLES.get(kind, kind)
    template = texts.STAFF_INFO if level is AlertLevel.INFO else texts.STAFF_ALERT
    text = template.format(title=title, member=member.name, date=_md(day), detail=detail)
    payload: dict[str, Any] = {
        "kind": "alert",
        "alert_id": alert_id,
        "level": level.value,
        "text": text,
    }
    await repo.enqueue(
        session,
        key=f"notify:{key}",
        platform=STAFF_PLATFORM,
        recipient=facility.alert_channel or "",
        payload=payload,
        member_id=member.id,
        now=now,
    )
    return alert_id


def _md(d: date) -> str:
    return f"{d.month}/{d.day}"
