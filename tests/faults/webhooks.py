"""Linked LINE members and signed webhooks aimed at a real `nippo serve` process."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import httpx

from storage.db import Database
from storage.models import Identity
from tests.line.conftest import SECRET, sign, webhook
from tests.support import make_facility, make_member


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


async def link_accounts(db: Database, now: datetime, pairs: Iterable[tuple[int, str]]) -> None:
    """Link each (member id, LINE user id) as if the member had sent staff's code."""
    async with db.transaction() as s:
        for mid, user in pairs:
            s.add(
                Identity(
                    platform="line",
                    platform_user_id=user,
                    member_id=mid,
                    active=True,
                    link_failures=0,
                    created_at=now,
                    linked_at=now,
                )
            )


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
