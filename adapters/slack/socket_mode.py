"""Slack over Socket Mode: for a facility without a public address (SLACK_APP_TOKEN).

Nippo opens a websocket to Slack (`apps.connections.open` with the app-level token, then the
wss:// address it answers) and Slack sends events, `/nippo` and interactivity through it as
envelopes, each acknowledged by its `envelope_id`. The envelopes reach the same bolt app, and
so the same listeners, as `POST /slack/events`; what that route does around bolt is done
here too: the workspace check, the audit log's actor, the metrics. Nothing arrives signed:
the connection itself, opened with the app's token, says it is Slack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from adapters.slack.app import actor_of, team_of
from bot.services.metrics import REGISTRY
from storage.audit_chain import acting_as

log = logging.getLogger(__name__)


class _Handler(AsyncSocketModeHandler):
    def __init__(
        self, bolt: AsyncApp, app_token: str, team_id: str | None, ping_interval: float
    ) -> None:
        super().__init__(bolt, app_token, ping_interval=ping_interval)
        self.team_id = team_id

    async def handle(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        started = time.perf_counter()
        payload = req.payload
        if self.team_id and team_of(payload) not in (self.team_id, None):
            log.warning("Slack envelope refused: another workspace")
            REGISTRY.inc(
                "nippo_webhooks_rejected_total", platform="slack", reason="other_workspace"
            )
            await _ack(client, req)
            return
        # Bolt starts the listener as a task inside `dispatch`: it inherits the actor.
        with acting_as(actor_of(payload)):
            response = await run_async_bolt_app(self.app, req)
        if response.status != 200:
            # No listener for it (bolt's 404) or one failed before acking: acknowledge anyway,
            # or Slack delivers the same envelope again and again.
            log.info("Slack envelope not handled", extra={"status": response.status})
            await _ack(client, req)
            return
        await send_async_response(client, req, response, started)
        REGISTRY.inc("nippo_webhooks_received_total", platform="slack")
        acked = time.perf_counter() - started
        REGISTRY.observe("nippo_webhook_ack_seconds", acked, platform="slack")


async def _ack(client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
    await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))


class SocketMode:
    """The Socket Mode connection of one bolt app, opened and closed with the web app."""

    def __init__(
        self,
        bolt: AsyncApp,
        app_token: str,
        team_id: str | None = None,
        *,
        ping_interval: float = 10,
    ) -> None:
        self._bolt = bolt
        self._app_token = app_token
        self._team_id = team_id
        self._ping_interval = ping_interval
        self._handler: _Handler | None = None
        self._connecting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Built here: the SDK's client starts tasks on the running loop when it is created.
        self._handler = _Handler(self._bolt, self._app_token, self._team_id, self._ping_interval)
        # In the background: Slack out of reach must not hold up LINE, the console or the
        # scheduler; the client retries by itself and reconnects when Slack asks it to.
        self._connecting = asyncio.create_task(self._handler.connect_async())  # type: ignore[no-untyped-call]
        log.info("Slack Socket Mode: connecting")

    async def connected(self) -> bool:
        return self._handler is not None and await self._handler.client.is_connected()

    async def aclose(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self._handler is not None:
            await self._handler.close_async()  # type: ignore[no-untyped-call]
