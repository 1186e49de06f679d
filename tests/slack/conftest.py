"""Slack test rig: the real app with bolt, a fake Slack Web API, requests signed like Slack's."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from bot.app.settings import Settings
from bot.app.web import create_app
from bot.services import admin
from storage.db import Database
from storage.models import Base, Facility
from tests.slack.fake_slack import FakeSlack, Served
from tests.support import FakeClock, jst

SECRET = "test-signing-secret-0123456789abcdef"
SAMPLES = Path("/work/shared/specs/payloads/slack")
TEAM = "T111"
CHANNEL = "C_ALERTS"
STAFF1, STAFF2, MANAGER = "U_STAFF1", "U_STAFF2", "U_MGR"


def sample(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / path).read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def sign(body: bytes, ts: str, secret: str = SECRET) -> str:
    base = b"v0:" + ts.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Rig:
    http: httpx.AsyncClient
    fake: FakeSlack
    db: Database
    clock: FakeClock
    facility_id: int
    app: FastAPI

    async def post(
        self,
        body: bytes,
        content_type: str,
        *,
        ts: str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        ts = ts or str(int(time.time()))
        h = {
            "content-type": content_type,
            "x-slack-request-timestamp": ts,
            "x-slack-signature": signature or sign(body, ts),
            **(headers or {}),
        }
        return await self.http.post("/slack/events", content=body, headers=h)

    async def event(self, payload: dict[str, Any], **kw: Any) -> httpx.Response:
        return await self.post(json.dumps(payload).encode(), "application/json", **kw)

    async def command(self, user: str, text: str, channel: str = "C_STAFF") -> httpx.Response:
        form = sample("commands/slash_command.json")
        form.update(team_id=TEAM, user_id=user, command="/nippo", text=text, channel_id=channel)
        form["response_url"] = self.fake.url.replace("/api/", "/hooks/commands/T111/1/x")
        return await self.post(urlencode(form).encode(), "application/x-www-form-urlencoded")

    async def interact(self, payload: dict[str, Any]) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self.post(body, "application/x-www-form-urlencoded")

    async def count(self, model: type[Base], *where: Any) -> int:
        async with self.db.transaction() as session:
            stmt = select(func.count()).select_from(model).where(*where)
            return int((await session.execute(stmt)).scalar_one())


async def staffed_facility(db: Database, clock: FakeClock) -> int:
    """ひだまり作業所 with 佐藤 and 鈴木 (staff) and 高橋 (manager)."""
    async with db.transaction() as session:
        f = await admin.init_facility(
            session, name="ひだまり作業所", alert_channel=CHANNEL, now=clock.at
        )
        for uid, name, role in (
            (STAFF1, "佐藤 花子", "staff"),
            (STAFF2, "鈴木 一郎", "staff"),
            (MANAGER, "高橋 管理", "manager"),
        ):
            await admin.add_staff(session, f, name=name, slack_user=uid, role=role, now=clock.at)
        return f.id


@pytest.fixture
async def rig(db: Database, db_url: str) -> AsyncIterator[Rig]:
    clock = FakeClock(jst("2026-07-01", "11:00"))
    facility_id = await staffed_facility(db, clock)
    async with Served(FakeSlack()) as fake:
        settings = Settings(
            database_url=db_url,
            slack_bot_token="xoxb-test",
            slack_signing_secret=SECRET,
            slack_api_base_url=fake.url,
        )
        app = create_app(settings, db, clock)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nippo.test") as http:
            yield Rig(http, fake, db, clock, facility_id, app)
        fake.check_limits()
        fake.check_spec()


async def facility(db: Database, facility_id: int) -> Facility:
    async with db.transaction() as session:
        return await session.get_one(Facility, facility_id)
