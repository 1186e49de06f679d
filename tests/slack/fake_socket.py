"""A local fake of Slack's Socket Mode server: an aiohttp websocket on 127.0.0.1.

The app asks the fake Web API's `apps.connections.open` (tests/slack/fake_slack.py answers
with `url` below) and connects; the fake says `hello`, as Slack does, then sends envelopes
({"envelope_id", "type", "payload", "accepts_response_payload"}) and keeps every message the
app sends back: the acknowledgements ({"envelope_id", "payload"?}). `raw` sends any text at
all, for envelopes Slack would never send.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

# What Slack's envelopes are, by kind; events are acknowledged without a payload.
KINDS = ("events_api", "slash_commands", "interactive")


@dataclass
class FakeSocket:
    url: str = ""
    connections: int = 0  # websockets opened so far
    received: list[dict[str, Any]] = field(default_factory=list)  # what the app sent, parsed
    _current: web.WebSocketResponse | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> FakeSocket:
        app = web.Application()
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/link?ticket=t-1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._current is not None:
            await self._current.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()  # answers the client's pings by itself
        await ws.prepare(request)
        self.connections += 1
        self._current = ws
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake-socket", "approximate_connection_time": 3600},
                "connection_info": {"app_id": "A_NIPPO"},
            }
        )
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.received.append(json.loads(msg.data))
        return ws

    async def connected(self, within: float = 10.0) -> None:
        """Wait until the app has opened its websocket."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self._current is None or self._current.closed:
            if loop.time() > deadline:
                raise AssertionError("the app did not open a Socket Mode connection")
            await asyncio.sleep(0.02)

    async def send(
        self,
        kind: str,
        payload: Any,
        *,
        envelope_id: str | None = None,
        retry_attempt: int | None = None,
    ) -> str:
        """Send one envelope as Slack does; returns its envelope_id."""
        assert kind in KINDS, kind
        envelope_id = envelope_id or f"env-{next(self._ids)}"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
        }
        if retry_attempt is not None:
            envelope.update(retry_attempt=retry_attempt, retry_reason="timeout")
        await self.raw(json.dumps(envelope))
        return envelope_id

    async def raw(self, text: str) -> None:
        await self.connected()
        assert self._current is not None
        await self._current.send_str(text)

    def acks(self, envelope_id: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("envelope_id") == envelope_id]

    async def ack(self, envelope_id: str, within: float = 10.0) -> dict[str, Any]:
        """The app's acknowledgement of one envelope (Slack wants it within 3 seconds)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not self.acks(envelope_id):
            if loop.time() > deadline:
                raise AssertionError(f"envelope {envelope_id} was not acknowledged")
            await asyncio.sleep(0.01)
        (ack,) = self.acks(envelope_id)  # once, never twice
        return ack
