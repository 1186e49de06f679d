"""Delivering outbox rows to LINE through line-bot-sdk v3 (`AsyncApiClient`, `AsyncMessagingApi`).

Replies are free and pushes cost money (200 a month on the free plan), so:
- a fresh reply token (`reply_token_until > now`) is used, once, on the first attempt; an
  invalid or expired token (400 "Invalid reply token") falls back to a push at once. The
  token is single-use, so a reply is never retried: after a failed reply attempt (429, 5xx,
  network) the retry is a push with the retry key (a rare duplicate beats a lost answer);
- a push carries `X-Line-Retry-Key` = the row's retry key, reused on every retry, so a push
  LINE already accepted is never shown twice (409 on a repeated key → SENT);
- 429 → RETRY honouring `Retry-After` (delivery's own backoff when absent), except LINE's
  monthly limit, which no retry fixes → FAILED; 408, 5xx, timeouts and connection errors →
  RETRY (delivery retries those for as long as they last); other 4xx → FAILED with LINE's
  message (delivery tells staff);
- an account that unfollowed is not pushed to (FAILED, no API call);
- before pushes, LINE's quota endpoints are read (at most every few minutes) and managers are
  warned in Slack at 80 % and 95 % of the month's quota, once per month and threshold.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    ShowLoadingAnimationRequest,
)
from linebot.v3.messaging.exceptions import ApiException

from adapters.line import quota
from adapters.line.inbox import ContentGone
from adapters.line.render import render_payload
from bot.core.ports import OutboxItem, Outcome, SendResult
from storage import repo
from storage.db import Database

log = logging.getLogger(__name__)

QUOTA_REFRESH = timedelta(minutes=5)
MONTHLY_LIMIT_HINT = "monthly limit"
INVALID_REPLY_TOKEN = "invalid reply token"
REPLY_PATH, PUSH_PATH = "/v2/bot/message/reply", "/v2/bot/message/push"


class LineApi:
    """The SDK clients, built lazily inside the running event loop (aiohttp needs one)."""

    def __init__(self, access_token: str, base_url: str, data_base_url: str) -> None:
        self._token = access_token
        self._base_url = base_url.rstrip("/")
        self._data_base_url = data_base_url.rstrip("/")
        self._client: AsyncApiClient | None = None
        self._data_client: AsyncApiClient | None = None
        self._sdk_sessions: list[aiohttp.ClientSession] = []  # own the connectors

    def _sdk_client(self, host: str) -> AsyncApiClient:
        """The SDK's client, the environment read once. The SDK's aiohttp session trusts the
        environment: for every request it looks up ~/.netrc and the proxy variables, each in
        a worker thread (bench/README.md). Here the proxy is found when the client is built
        (`env_proxy`) and requests go through a session on the SDK's own connector that does
        not look again."""
        configuration = Configuration(host=host, access_token=self._token)
        configuration.proxy = env_proxy(host)
        client = AsyncApiClient(configuration)
        sdk_session = client.rest_client.pool_manager
        self._sdk_sessions.append(sdk_session)
        client.rest_client.pool_manager = aiohttp.ClientSession(
            connector=sdk_session.connector, connector_owner=False, trust_env=False
        )
        return client

    @property
    def client(self) -> AsyncApiClient:
        if self._client is None:
            self._client = self._sdk_client(self._base_url)
        return self._client

    @property
    def messaging(self) -> AsyncMessagingApi:
        return AsyncMessagingApi(self.client)

    async def post_message(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        """POST a reply or push body, already LINE's JSON (`render_payload`), through the
        SDK's own ApiClient: its session, auth header and ApiException, without building and
        validating a pydantic request model and parsing the answer into another one for every
        message (a large share of the sender's CPU in a morning burst: bench/README.md). The
        tests check every body the fake LINE API receives against LINE's OpenAPI spec."""
        header_params = {"Accept": "application/json", "Content-Type": "application/json"}
        await self.client.call_api(
            path,
            "POST",
            header_params={**header_params, **(headers or {})},
            body=body,
            response_types_map={},
            auth_settings=["Bearer"],
            _return_http_data_only=False,
        )

    @property
    def blob(self) -> AsyncMessagingApiBlob:
        if self._data_client is None:
            self._data_client = self._sdk_client(self._data_base_url)
        return AsyncMessagingApiBlob(self._data_client)

    async def aclose(self) -> None:
        for client in (self._client, self._data_client):
            if client is not None:
                await client.close()
        for session in self._sdk_sessions:  # and with them the connectors
            await session.close()
        self._client = self._data_client = None
        self._sdk_sessions = []


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY, NO_PROXY …), as a session
    trusting the environment would find it; credentials in it go to the proxy (aiohttp)."""
    parts = urlsplit(url)
    if not parts.hostname or proxy_bypass(parts.hostname):
        return None
    return getproxies().get(parts.scheme) or None


# The member sees LINE's loading animation while a photo, voice or video is fetched; it
# stops by itself when our answer arrives (LINE allows 5–60 s, in steps of 5).
LOADING_SECONDS = 20


class LineContent:
    """Downloads message content (photos, files, voice, video) through LINE's data API."""

    def __init__(self, api: LineApi) -> None:
        self.api = api

    async def fetch(self, message_id: str, chat: str) -> tuple[bytes, str]:
        await self._show_loading(chat)
        try:
            resp = await self.api.blob.get_message_content_with_http_info(message_id)
        except ApiException as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                raise ContentGone(f"LINE {exc.status}") from exc
            raise
        headers = resp.headers or {}
        media_type = str(headers.get("Content-Type") or headers.get("content-type") or "")
        return bytes(resp.data or b""), media_type or "application/octet-stream"

    async def _show_loading(self, chat: str) -> None:
        """LINE's loading animation in the member's chat (1:1 only); never in the way of the
        download itself."""
        if not chat:
            return
        request = ShowLoadingAnimationRequest(chatId=chat, loadingSeconds=LOADING_SECONDS)
        try:
            await self.api.messaging.show_loading_animation_with_http_info(request)
        except (ApiException, aiohttp.ClientError, TimeoutError) as exc:
            log.info("LINE loading animation not shown", extra={"error_type": type(exc).__name__})


def error_message(exc: ApiException) -> str:
    """LINE's own error text ("message" and the details) for staff and logs."""
    raw = exc.body
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode("utf-8", "replace")
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    message = str(data.get("message") or exc.reason or "error")
    details = [
        f"{d.get('property', '')}: {d.get('message', '')}".strip(": ")
        for d in data.get("details") or []
        if isinstance(d, dict)
    ]
    return f"LINE {exc.status}: {message}" + (f" ({'; '.join(details)})" if details else "")


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date); None when absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


def _header(exc: ApiException, name: str) -> str | None:
    headers: Any = exc.headers or {}
    got = headers.get(name) or headers.get(name.lower())
    return str(got) if got is not None else None


def _unreachable(exc: Exception, *, via: str) -> SendResult:
    """LINE did not answer (connection refused, reset, timed out): its trouble, so RETRY."""
    return SendResult(Outcome.RETRY, via=via, error=f"LINE unreachable: {type(exc).__name__}")


class LineSender:
    """The `Sender` for platform "line"."""

    def __init__(self, api: LineApi, db: Database) -> None:
        self.api = api
        self.db = db
        self._quota_checked_at: datetime | None = None

    async def send(self, item: OutboxItem, now: datetime) -> SendResult:
        messages = render_payload(item.payload)
        if not messages:
            return SendResult(Outcome.FAILED, error="nothing to send to LINE for this payload")
        fresh = item.reply_token_until is not None and item.reply_token_until > now
        if item.reply_token and fresh and item.attempts == 0:
            body = {"replyToken": item.reply_token, "messages": messages}
            try:
                await self.api.post_message(REPLY_PATH, body)
                return SendResult(Outcome.SENT, via="reply")
            except ApiException as exc:
                if not (exc.status == 400 and INVALID_REPLY_TOKEN in error_message(exc).lower()):
                    return self._failure(exc, now, via="reply")
                log.info("reply token refused, pushing instead", extra={"outbox_id": item.id})
            except (aiohttp.ClientError, TimeoutError) as exc:  # the retry is a push
                return _unreachable(exc, via="reply")
        return await self._push(item, messages, now)

    async def _push(
        self, item: OutboxItem, messages: list[dict[str, Any]], now: datetime
    ) -> SendResult:
        async with self.db.transaction() as session:
            identity = await repo.identity_for(session, "line", item.recipient)
        if identity is None or not identity.active:
            reason = (
                "the member has blocked the LINE account (unfollowed)"
                if identity is not None
                else "no LINE account is known for this recipient"
            )
            return SendResult(Outcome.FAILED, via="push", error=f"not pushed: {reason}")
        await self._watch_quota(now)
        body = {"to": item.recipient, "messages": messages}
        try:
            await self.api.post_message(PUSH_PATH, body, {"X-Line-Retry-Key": item.retry_key})
        except ApiException as exc:
            if exc.status == 409:  # this retry key was accepted on an earlier try
                accepted = _header(exc, "X-Line-Accepted-Request-Id")
                return SendResult(Outcome.SENT, via="push", external_id=accepted)
            return self._failure(exc, now, via="push")
        except (aiohttp.ClientError, TimeoutError) as exc:  # the retry key covers a lost answer
            return _unreachable(exc, via="push")
        return SendResult(Outcome.SENT, via="push")

    def _failure(self, exc: ApiException, now: datetime, *, via: str) -> SendResult:
        status = exc.status or 0
        message = error_message(exc)
        if status == 429 and MONTHLY_LIMIT_HINT in message.lower():
            return SendResult(Outcome.FAILED, via=via, error=message)
        if status == 429:
            wait = retry_after(_header(exc, "Retry-After"), now)
            return SendResult(Outcome.RETRY, via=via, retry_after=wait, error=message)
        if status in (0, 408) or status >= 500:
            # A 503 may say how long the outage lasts (RFC 9110 Retry-After): then not sooner.
            wait = retry_after(_header(exc, "Retry-After"), now) if status else None
            return SendResult(Outcome.RETRY, via=via, retry_after=wait, error=message)
        return SendResult(Outcome.FAILED, via=via, error=message)

    async def _watch_quota(self, now: datetime) -> None:
        """Warn managers before the month's push quota runs out (never blocks a push)."""
        checked = self._quota_checked_at
        if checked is not None and now - checked < QUOTA_REFRESH:
            return
        self._quota_checked_at = now
        try:
            await quota.check(self.db, self.api.messaging, now)
        except Exception:  # a quota read must not stop delivery
            log.warning("LINE quota check failed", exc_info=True)

    async def aclose(self) -> None:
        await self.api.aclose()
