"""Database → Block Kit: load a read model inside the caller's transaction and render it."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.slack import blocks as bk
from bot import board, records, texts
from bot.service import business_date
from storage import repo
from storage.models import Alert, Facility, Member


async def alert_message(
    session: AsyncSession, alert_id: int
) -> tuple[str, list[bk.Block], Alert] | None:
    """The alert as posted (or updated) in the staff channel: fallback text, blocks, row.

    An alert posted in a digest is re-rendered with the whole digest it shares a message with.
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
            text, blocks = await digest_message(session, shared)
            return text, blocks, alert
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


async def digest_message(session: AsyncSession, alert_ids: list[int]) -> tuple[str, list[bk.Block]]:
    items = [i for i in [await board.alert_item(session, a) for a in alert_ids] if i is not None]
    member = await session.get_one(Member, items[0].member_id)
    facility = await session.get_one(Facility, member.facility_id)
    full = facility.disclosure != "minimal"
    text = texts.ALERT_DIGEST_TITLE.format(count=len(items))
    return text, bk.digest_blocks(items, facility.tz, full=full)


async def alert_mentions(session: AsyncSession, alert_id: int) -> list[bk.Block]:
    """担当, 代理, then managers, mentioned above a new alert (only staff with a Slack id)."""
    alert = await session.get(Alert, alert_id)
    member = await session.get(Member, alert.member_id) if alert and alert.member_id else None
    if member is None:
        return []
    ids = await records.mention_order(session, member)
    return [bk.section(" ".join(f"<@{u}>" for u in ids))] if ids else []
