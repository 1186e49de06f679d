"""LINE test fixtures: a fake LINE API on loopback, the real app, signed official payloads."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from adapters.line.inbox import LinePlatform
from bot.app.settings import Settings
from bot.app.web import create_app
from bot.services import inbox
from bot.services.platforms import ContentSource
from storage.db import Database
from tests.line.fake_api import FakeLine, FakeLineServer
from tests.line.schema import check_body
from tests.support import FakeClock, Recorder

PAYLOADS = Path("/work/shared/specs/payloads")
SECRET = "test-channel-secret"
USER = "U206d25c2ea6bd87c17655609a1c37cb8"  # the user id of LINE's samples
LOADING = "/v2/bot/chat/loading/start"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / "line" / name).read_text(encoding="utf-8"))
    return data


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


_ids = itertools.count(1)


def event(
    sample_name: str,
    at: datetime,
    *,
    user: str = USER,
    event_id: str | None = None,
    redelivery: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """One event from an official sample, with its own id, reply token and timestamp."""
    ev: dict[str, Any] = copy.deepcopy(sample(f"events/{sample_name}.json")["events"][0])
    n = next(_ids)
    ev["webhookEventId"] = event_id or f"01TESTEVENT{n:015d}"
    if "replyToken" in ev:
        ev["replyToken"] = f"reply-token-{n}"
    ev["timestamp"] = int(at.timestamp() * 1000)
    ev["source"]["userId"] = user
    ev["deliveryContext"] = {"isRedelivery": redelivery}
    for key, value in fields.items():
        if isinstance(value, dict) and isinstance(ev.get(key), dict):
            ev[key] = {**ev[key], **value}
        else:
            ev[key] = value
    return ev


async def process_pending_inbox(
    db: Database, now: datetime, content: ContentSource | None = None, **kw: Any
) -> int:
    """A pass over the pending LINE rows, as the app's passes make it: the one inbox service
    with LINE's plug-in (its sender is not used by the inbox)."""
    return await inbox.process_pending(db, now, LinePlatform(Recorder(), content), **kw)


def webhook(*events: dict[str, Any]) -> bytes:
    return json.dumps({"destination": "Ubot", "events": list(events)}).encode()


@dataclass
class Line:
    """The app under test with its fake LINE API and clock."""

    app: FastAPI
    client: httpx.AsyncClient
    fake: FakeLine
    clock: FakeClock
    db: Database

    async def post(
        self, body: bytes, *, signature: str | None = "sign", **headers: str
    ) -> httpx.Response:
        if signature == "sign":
            signature = sign(body)
        if signature is not None:
            headers["X-Line-Signature"] = signature
        headers.setdefault("Content-Type", "application/json")
        response = await self.client.post("/callback/line", content=body, headers=headers)
        await self.app.state.line_worker.settled()  # the handling that follows the 200
        return response

    async def send(self, *events: dict[str, Any], at: datetime | None = None) -> httpx.Response:
        """Deliver events as LINE would; the app handles them and replies before returning."""
        if at is not None:
            self.clock.at = at
        response = await self.post(webhook(*events))
        assert response.status_code == 200, response.text
        return response


def line_settings(db_url: str, fake: FakeLine) -> Settings:
    return Settings(
        database_url=db_url,
        line_channel_secret=SecretStr(SECRET),
        line_channel_access_token=SecretStr("test-access-token"),
        line_api_base_url=fake.url,
        line_data_api_base_url=fake.url,
        # The tests drive handling themselves: a real-time scheduler pass racing the
        # after-ack pass would make them flaky.
        scheduler_enabled=False,
    )


@pytest.fixture
async def fake_line() -> AsyncIterator[FakeLine]:
    async with FakeLineServer(FakeLine()) as fake:
        yield fake
    # Whatever a test made Nippo send, every message body matches LINE's published schema.
    for r in fake.requests:
        if r.path in ("/v2/bot/message/reply", "/v2/bot/message/push", LOADING) and r.body:
            check_body(r.body, r.path)


@pytest.fixture
async def line(db: Database, db_url: str, fake_line: FakeLine, t0: datetime) -> AsyncIterator[Line]:
    clock = FakeClock(t0)
    app = create_app(line_settings(db_url, fake_line), db, clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://nippo.test"
        ) as client,
    ):
        yield Line(app, client, fake_line, clock, db)
