"""Slack's entry in the platform registry: its settings, its plug-in and bolt's routes.

Slack reaches Nippo at `POST /slack/events` (SLACK_SIGNING_SECRET), over Socket Mode
(SLACK_APP_TOKEN: no public address needed), or both; either way the same bolt app answers.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Protocol

from fastapi import FastAPI
from pydantic import SecretStr

from adapters.plugin import Entry, Mounted
from bot.core.ports import Clock
from bot.services.platforms import PlatformPlugin
from storage.db import Database

log = logging.getLogger(__name__)


class SlackSettings(Protocol):
    @property
    def slack_bot_token(self) -> SecretStr | None: ...
    @property
    def slack_signing_secret(self) -> SecretStr | None: ...
    @property
    def slack_app_token(self) -> SecretStr | None: ...
    @property
    def slack_api_base_url(self) -> str: ...
    @property
    def slack_team_id(self) -> str | None: ...
    @property
    def public_url(self) -> str | None: ...
    @property
    def outbox_backlog_alert_seconds(self) -> int: ...


def credentials(settings: SlackSettings) -> dict[str, bool]:
    bot = settings.slack_bot_token is not None
    if settings.slack_app_token is not None and settings.slack_signing_secret is None:
        return {"SLACK_BOT_TOKEN": bot, "SLACK_APP_TOKEN": True}  # Socket Mode alone
    signed = settings.slack_signing_secret is not None
    return {"SLACK_BOT_TOKEN": bot, "SLACK_SIGNING_SECRET": signed}


def build(settings: SlackSettings, db: Database) -> PlatformPlugin:
    from adapters.slack.checkin import SlackPlatform
    from adapters.slack.deps import web_client
    from adapters.slack.sender import SlackSender

    assert settings.slack_bot_token is not None
    client = web_client(
        settings.slack_bot_token.get_secret_value(), settings.slack_api_base_url, retries=False
    )
    late_after = timedelta(seconds=settings.outbox_backlog_alert_seconds)
    sender = SlackSender(client, db, late_after=late_after, console_url=settings.public_url)
    return SlackPlatform(sender)


class _TokenUnusedFilter(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that the
    client given (ours, with its base URL and retries) wins over it: true, and by design,
    yet it reads as a misconfiguration at every start."""

    def filter(self, record: logging.LogRecord) -> bool:
        from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_TOKEN_UNUSED = _TokenUnusedFilter()


def mount(
    app: FastAPI, settings: SlackSettings, db: Database, platform: PlatformPlugin, clock: Clock
) -> Mounted:
    from adapters.slack import app as slack_app
    from adapters.slack.sender import SlackSender

    sender = platform.sender
    assert isinstance(sender, SlackSender)
    logging.getLogger("adapters.slack.bolt").addFilter(_TOKEN_UNUSED)
    assert settings.slack_bot_token is not None
    secret = settings.slack_signing_secret
    bolt = slack_app.build(
        token=settings.slack_bot_token.get_secret_value(),
        # Socket Mode alone: nothing arrives signed (bolt skips the check for envelopes)
        signing_secret=secret.get_secret_value() if secret is not None else "",
        base_url=settings.slack_api_base_url,
        db=db,
        sender=sender,
        platform=platform,
        clock=clock,
        senders=app.state.senders,  # the composition root's, every configured platform's
        public_url=settings.public_url,
    )
    if secret is not None:
        slack_app.mount(app, bolt, secret.get_secret_value(), settings.slack_team_id)
        log.info("Slack is on: POST /slack/events")
    if settings.slack_app_token is None:
        return Mounted()
    from adapters.slack.socket_mode import SocketMode

    token = settings.slack_app_token.get_secret_value()
    log.info("Slack is on: Socket Mode")
    return Mounted(service=SocketMode(bolt, token, settings.slack_team_id))


ENTRY = Entry("slack", "Slack", credentials, build, mount)
