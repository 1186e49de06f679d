"""Database → Block Kit: load a read model inside the caller's transaction and render it."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.slack import blocks as bk
from bot import board
from bot.service import business_date
from storage import repo
from storage.models import Alert, Facility, Member


async def alert_message(
    session: AsyncSession, alert_id: int
) -> tuple[str, list[bk.Block], Alert] | None:
    """The alert as posted (or updated) in the staff channel: fallback text, blocks, row."""
    item = await board.alert_item(session, alert_id)
    alert = await session.get(Alert, alert_id)
    if item is None or alert is None:
        return None
    member = await session.get_one(Member, item.member_id)
    facility = await session.get_one(Facility, member.facility_id)
    day = business_date(facility, item.opened_at)
    report = await repo.report_for(session, member.id, day)
    latest = repo.snapshot(report, day) if report is not None else None
    full = facility.disclosure != "minimal"
    return bk.alert_fallback(item), bk.alert_blocks(item, facility.tz, latest, full=full), alert


def parse_day(word: str) -> date | None:
    try:
        return date.fromisoformat(word.replace("/", "-"))
    except ValueError:
        return None
