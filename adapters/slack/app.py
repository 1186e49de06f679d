"""Bolt wiring: one AsyncApp on `POST /slack/events` for events, `/nippo` and interactivity.

Bolt verifies every request (v0 HMAC signature, timestamps older than 5 minutes refused with
401) and answers Slack as soon as a listener calls `ack()`; our listeners ack first and do the
database work and Web API calls afterwards, so Slack always hears back within 3 seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.internals import extract_user_id, parse_body
from slack_sdk.signature import SignatureVerifier

from adapters import json_body
from adapters.body import TooLarge, read_limited
from adapters.slack import alerts, call_log, checkin, commands, home, recordkeeping
from adapters.slack.deps import Deps, web_client
from adapters.slack.sender import SlackSender
from bot.core.ports import Clock, Sender, system_clock
from bot.services.metrics import REGISTRY
from bot.services.platforms import PlatformPlugin
from storage.audit_chain import acting_as
from storage.db import Database

log = logging.getLogger(__name__)


def build(
    *,
    token: str,
    signing_secret: str,
    base_url: str,
    db: Database,
    sender: SlackSender,
    platform: PlatformPlugin,
    clock: Clock = system_clock,
    senders: Mapping[str, Sender] | None = None,
    public_url: str | None = None,
) -> AsyncApp:
    """The bolt app with every listener; `sender` is the outbox sender for platform "slack",
    `platform` its plug-in, through which members' DMs reach the one inbox; `senders`: every
    platform's, for what staff send members on theirs."""
    bolt = AsyncApp(
        client=web_client(token, base_url),
        signing_secret=signing_secret,
        logger=logging.getLogger("adapters.slack.bolt"),
    )
    deps = Deps(db, clock, sender, senders or {}, public_url=public_url)
    commands.register(bolt, deps)
    alerts.register(bolt, deps)
    call_log.register(bolt, deps)
    checkin.register(bolt, deps, platform)
    home.register(bolt, deps)
    recordkeeping.register(bolt, deps)
    return bolt


def mount(app: FastAPI, bolt: AsyncApp, signing_secret: str, team_id: str | None = None) -> None:
    """`team_id`: the workspace Nippo is installed in; requests from any other are refused."""
    handler = AsyncSlackRequestHandler(bolt)
    verifier = SignatureVerifier(signing_secret)

    @app.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        started = time.perf_counter()
        try:
            body = await read_limited(request)  # cached: bolt reads the same bytes again
        except TooLarge:
            log.warning("Slack request refused: body over 1 MiB")
            return _refused(413, "too_large")
        ts = request.headers.get("x-slack-request-timestamp")
        signature = request.headers.get("x-slack-signature")
        if not ts or not signature:
            return _refused(401, "no_signature")
        if not ts.isascii() or not ts.isdigit() or len(ts) > 12:
            log.warning("Slack request refused: malformed timestamp header")
            return _refused(400, "malformed")
        try:
            valid = verifier.is_valid(body, ts, signature)
        except UnicodeDecodeError:  # the verifier decodes the body as text
            valid = False
        if not valid:
            return _refused(401, "bad_signature")
        # Bolt assumes a signed body is well formed; a JSON list or deep nesting would crash it.
        content_type = request.headers.get("content-type", "")
        if not _well_formed(body, content_type):
            log.warning("Slack request refused: malformed body")
            return _refused(400, "malformed")
        if team_id and _team(body, content_type) not in (team_id, None):
            log.warning("Slack request refused: another workspace")
            return _refused(403, "other_workspace")
        # Bolt starts the listener as a task inside `handle`: it inherits the actor.
        with acting_as(_actor(body, content_type)):
            response: Response = await handler.handle(request)
        if response.status_code == 200:  # bolt answers once the listener has acked
            REGISTRY.inc("nippo_webhooks_received_total", platform="slack")
            acked = time.perf_counter() - started
            REGISTRY.observe("nippo_webhook_ack_seconds", acked, platform="slack")
        return response


def _refused(status: int, reason: str) -> Response:
    REGISTRY.inc("nippo_webhooks_rejected_total", platform="slack", reason=reason)
    return Response(status_code=status)


def _actor(body: bytes, content_type: str) -> str:
    """Who the audit log names for a (well-formed) request's writes: its Slack user."""
    return actor_of(parse_body(body.decode("utf-8"), content_type))


def actor_of(data: dict[str, Any]) -> str:
    """The audit log's actor for a parsed request or Socket Mode payload: its Slack user."""
    user = extract_user_id(data)
    return f"slack:{user}" if user else "bot"


def _team(body: bytes, content_type: str) -> str | None:
    """The workspace a (well-formed) request comes from, as Slack names it in each kind."""
    if content_type.startswith("application/json") or body.lstrip().startswith(b"{"):
        data = json_body.loads(body)
    else:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
        data = json_body.loads(form["payload"]) if "payload" in form else form
    return team_of(data)


def team_of(data: dict[str, Any]) -> str | None:
    """The workspace a parsed request or Socket Mode payload comes from, as Slack names it in
    each kind (events and commands: team_id; interactivity: team.id)."""
    team = data.get("team_id")
    if team is None and isinstance(data.get("team"), dict):
        team = data["team"].get("id")
    return str(team) if team is not None else None


def _well_formed(body: bytes, content_type: str) -> bool:
    """A JSON object, or a form whose `payload` (if any) is a JSON object."""
    try:
        # Bolt reads any body starting with "{" as JSON, whatever its content type says.
        if content_type.startswith("application/json") or body.lstrip().startswith(b"{"):
            return isinstance(json_body.loads(body), dict)
        form = parse_qs(body.decode("utf-8"))
        payload = form.get("payload")
        return payload is None or isinstance(json_body.loads(payload[0]), dict)
    except (ValueError, RecursionError):
        return False
