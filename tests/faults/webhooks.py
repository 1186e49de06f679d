"""Linked LINE members and signed webhooks aimed at a real `nippo serve` process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from adapters.line.sender import LineApi, LineSender
from bot.services import delivery
from storage.db import Database
from storage.models import OutboxMessage
from tests.line.conftest import SECRET, sign, webhook
from tests.support import link_accounts, make_facility, make_member


async def link_members(
    db: Database, now: datetime, prefix: str, count: int, **facility: Any
) -> list[str]:
    """A facility with `count` members, each linked to a LINE user id starting `prefix`."""
    fid = await make_facility(db, now, **facility)
    mids = [
        await make_member(db, fid, now, name=f"利用者 {i:02d}", kana=None) for i in range(count)
    ]
    users = [f"{prefix}{i:0{33 - len(prefix)}d}" for i in range(count)]
    await link_accounts(db, now, zip(mids, users, strict=True))
    return users


async def post(client: httpx.AsyncClient, url: str, ev: dict[str, Any]) -> int | None:
    """POST one signed event; its status, or None when no answer came (LINE redelivers)."""
    body = webhook(ev)
    try:
        response = await client.post(
            f"{url}/callback/line",
            content=body,
            headers={"X-Line-Signature": sign(body), "Content-Type": "application/json"},
        )
    except httpx.HTTPError:
        return None
    return response.status_code


def server_env(db_url: str, fake_line_url: str) -> dict[str, str]:
    """`nippo serve`'s environment: this database, LINE at the fake API, scheduler on."""
    return {
        "DATABASE_URL": db_url,
        "LINE_CHANNEL_SECRET": SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": "test-access-token",
        "LINE_API_BASE_URL": fake_line_url,
        "LINE_DATA_API_BASE_URL": fake_line_url,
        "SCHEDULER_ENABLED": "true",
    }


async def deliver_after_lease(db: Database, fake_line_url: str) -> None:
    """Send what a stopped server left, as a server does once the 60 s leases end: flushes
    on a simulated clock from a lease past now until no LINE row is unsent."""
    sender = LineSender(LineApi("test-access-token", fake_line_url, fake_line_url), db)
    unsent = select(func.count()).where(
        OutboxMessage.platform == "line", OutboxMessage.status != "sent"
    )
    try:
        at = datetime.now(UTC) + delivery.LEASE + timedelta(seconds=1)
        for _ in range(20):
            await delivery.flush(db, {"line": sender}, at)
            async with db.transaction() as s:
                if not (await s.execute(unsent)).scalar_one():
                    return
            at += timedelta(seconds=30)
    finally:
        await sender.aclose()
