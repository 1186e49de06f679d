"""Where a member's photo, file, voice or video (`EvidenceShared`) shows for staff in Slack.

With consent covering Slack it is uploaded into the thread of the member's open alert, when
one has a message (staff see it next to what worried them), else into the channel as before.
Without that consent only the caption goes out, plus a link to the member's month page in the
staff console (signed-in staff only; the link names the member by id, never by name) when
PUBLIC_URL is set.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from bot.core import payloads as pl
from bot.core import texts
from bot.core.domain import AlertLevel
from bot.core.ports import OutboxItem
from bot.services import alert_actions
from bot.services.alert_thread import OPEN_STATES
from storage.db import Database
from storage.models import Alert, Attachment, DailyReport


async def alert_thread(db: Database, member_id: int) -> tuple[str, str] | None:
    """(channel, ts) of the member's newest unresolved alert that was posted, if any; a
    notice (an absence, an early finish, an information) is no conversation to join."""
    async with db.transaction() as session:
        row = (
            await session.execute(
                select(Alert.slack_channel, Alert.slack_ts)
                .where(
                    Alert.member_id == member_id,
                    Alert.state.in_(OPEN_STATES),
                    Alert.slack_ts.is_not(None),
                    Alert.slack_channel.is_not(None),
                    Alert.kind.not_in(alert_actions.QUIET_KINDS),
                    Alert.level != AlertLevel.INFO.value,
                )
                .order_by(Alert.id.desc())
                .limit(1)
            )
        ).first()
    return (str(row[0]), str(row[1])) if row is not None else None


async def with_console_link(
    db: Database, item: OutboxItem, payload: pl.EvidenceShared, console_url: str | None
) -> OutboxItem:
    """The caption-only notice, with where staff can see the file: the console's month page."""
    if not console_url:
        return item
    async with db.transaction() as session:
        found = await session.get(Attachment, payload.attachment_id)
        report = await session.get(DailyReport, found.report_id) if found else None
    if report is None:
        return item
    url = (
        f"{console_url.rstrip('/')}/console/members/{report.member_id}"
        f"?month={report.business_date:%Y-%m}"
    )
    text = f"{payload.text}\n{texts.STAFF_EVIDENCE_CONSOLE.format(url=url)}"
    return replace(item, payload=replace(payload, text=text))
