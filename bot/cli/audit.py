"""`nippo audit …`: check, seal and read the hash-chained audit log (storage/audit_chain.py).

`verify` exits 0 with "audit log: N entries, chain intact", or 1 naming the first broken link
(an entry changed, removed, or its chain hash rewritten). It prints the head (the last
entry's seq and hash): noted down elsewhere now and then, it also shows later whether the
log's tail was cut off or the whole chain rebuilt. Registered on the main app by importing
this module from bot.cli.base (like bot.cli.records).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.base import _run, app
from bot.services.admin import AdminError
from storage import audit_chain, repo
from storage.audit_chain import Verdict
from storage.db import Database
from storage.models import AuditLog

audit_app = typer.Typer(
    help="The audit log: who wrote, viewed or exported what.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")

DEFAULT_TZ = "Asia/Tokyo"


def describe(verdict: Verdict) -> list[str]:
    """What `nippo audit verify` prints (pure)."""
    unsealed = f"; {verdict.unsealed} not sealed yet" if verdict.unsealed else ""
    if verdict.broken is None:
        return [
            f"audit log: {verdict.entries} entries, chain intact{unsealed}",
            f"head: entry {verdict.head_seq} {verdict.head_hash}",
        ]
    b = verdict.broken
    return [
        f"audit log: chain broken at entry {b.seq} ({b.problem}): {b.explanation}",
        f"the {verdict.entries} entries before it are intact{unsealed}",
    ]


@audit_app.command("verify")
def verify() -> None:
    """Recompute the chain; exit 1 at its first broken link."""

    async def work(database: Database) -> Verdict:
        async with database.transaction() as session:
            return await audit_chain.verify(session)

    verdict = _run(work)
    for line in describe(verdict):
        typer.echo(line)
    if not verdict.intact:
        raise typer.Exit(1)


@audit_app.command("seal")
def seal() -> None:
    """Seal entries left unsealed (PostgreSQL, when writers were busy; the tick does it too)."""

    async def work(database: Database) -> int:
        async with database.transaction() as session:
            return await audit_chain.seal(session)

    typer.echo(f"sealed {_run(work)} entries")


@audit_app.command("show")
def show(
    target: Annotated[
        str | None,
        typer.Option("--target", help="e.g. daily_report:12, or a table name for all its rows"),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    tz: Annotated[
        str | None, typer.Option("--tz", help="default: the facility's (Asia/Tokyo)")
    ] = None,
) -> None:
    """The latest entries, oldest first, in local time."""

    async def work(database: Database) -> list[str]:
        async with database.transaction() as session:
            zone = _zone(tz or await _facility_tz(session))
            rows = await latest(session, target, limit)
        return [render(row, zone) for row in rows]

    for line in _run(work):
        typer.echo(line)


async def latest(session: AsyncSession, target: str | None, limit: int) -> Sequence[AuditLog]:
    stmt = select(AuditLog)
    if target is not None and ":" in target:
        stmt = stmt.where(AuditLog.target == target)
    elif target is not None:
        stmt = stmt.where(AuditLog.target.startswith(f"{target}:", autoescape=True))
    rows = (await session.scalars(stmt.order_by(AuditLog.id.desc()).limit(limit))).all()
    return list(reversed(rows))


def render(row: AuditLog, zone: ZoneInfo) -> str:
    """One entry on a line: seq (- while unsealed), local time, actor, action, target, what."""
    seq = str(row.seq) if row.seq is not None else "-"
    at = row.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    return f"{seq:>6} {at} {row.actor} {row.action} {row.target} {_detail(row.detail)}".rstrip()


def _detail(detail: Any) -> str:
    if isinstance(detail, dict) and set(detail) <= {"columns"}:
        return ",".join(detail.get("columns") or [])
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


async def _facility_tz(session: AsyncSession) -> str:
    facilities = await repo.facilities(session)
    return facilities[0].tz if len(facilities) == 1 else DEFAULT_TZ


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise AdminError(f"unknown time zone {name!r} (e.g. Asia/Tokyo)") from exc
