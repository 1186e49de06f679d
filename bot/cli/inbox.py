"""`nippo inbox …`: quarantined inbound events (issue #23), for operators.

An inbound event whose handling kept failing is given up after its last try and kept with
status "failed", its attempts and a short error (exception type and first line; never the
body). `failed` lists them (ids, times, errors: no message content); `retry ID…` puts
chosen ones back to "pending" with their attempts at 0, so the next pass (at the latest the
next minute's tick) tries them again, as often as a new event. Registered on the main app
by importing this module in bot.cli.main (like bot.cli.records); until then
`python -m bot.cli.inbox inbox failed` runs the same commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import typer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.base import _run, app
from storage.db import Database
from storage.models import InboxEvent

inbox_app = typer.Typer(
    help="Inbound events that were given up (quarantined).", no_args_is_help=True
)
app.add_typer(inbox_app, name="inbox")


@dataclass(frozen=True)
class Quarantined:
    id: int
    platform: str
    event_id: str
    attempts: int
    received_at: datetime
    processed_at: datetime | None
    error: str | None


async def quarantined(
    session: AsyncSession, platform: str | None = None, limit: int = 50
) -> list[Quarantined]:
    """The most recent failed inbox rows, newest first (no body: it may hold health data)."""
    stmt = select(
        InboxEvent.id,
        InboxEvent.platform,
        InboxEvent.event_id,
        InboxEvent.attempts,
        InboxEvent.received_at,
        InboxEvent.processed_at,
        InboxEvent.error,
    ).where(InboxEvent.status == "failed")
    if platform is not None:
        stmt = stmt.where(InboxEvent.platform == platform)
    rows = (await session.execute(stmt.order_by(InboxEvent.id.desc()).limit(limit))).all()
    return [Quarantined(*row) for row in rows]


async def retry(session: AsyncSession, ids: Sequence[int]) -> list[int]:
    """Put the given failed rows back to pending with no attempts; the ids that were."""
    result = await session.execute(
        update(InboxEvent)
        .where(InboxEvent.id.in_(list(ids)), InboxEvent.status == "failed")
        .values(status="pending", attempts=0, processed_at=None)
        .returning(InboxEvent.id)
    )
    return sorted(int(i) for i in result.scalars())


PlatformOpt = Annotated[str | None, typer.Option("--platform", help="line or slack.")]


@inbox_app.command("failed")
def failed_command(platform: PlatformOpt = None, limit: int = 50) -> None:
    """List quarantined inbound events: id, platform, event id, attempts, times, error."""

    async def work(db: Database) -> list[Quarantined]:
        async with db.transaction() as session:
            return await quarantined(session, platform, limit)

    rows = _run(work)
    if not rows:
        typer.echo("no quarantined inbound events")
    for r in rows:
        typer.echo(
            f"{r.id}\t{r.platform}\t{r.event_id}\tattempts={r.attempts}"
            f"\treceived={r.received_at.isoformat(timespec='seconds')}\t{r.error or ''}"
        )


@inbox_app.command("retry")
def retry_command(ids: list[int]) -> None:
    """Try these quarantined events again (from the next pass, with a fresh count of tries)."""

    async def work(db: Database) -> list[int]:
        async with db.transaction() as session:
            return await retry(session, ids)

    done = _run(work)
    typer.echo(f"pending again: {' '.join(map(str, done)) or 'none'}")
    missing = sorted(set(ids) - set(done))
    if missing:
        typer.echo(f"not quarantined (left as they are): {' '.join(map(str, missing))}")


if __name__ == "__main__":
    app()
