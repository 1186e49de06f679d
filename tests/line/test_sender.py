"""Delivering to LINE through the real SDK against the local fake API: retries, the retry
key, reply-token fallback, failures staff must hear about, unfollowed accounts, the quota."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from adapters.line.sender import LineApi, LineSender, env_proxy, retry_after
from bot.core import texts
from bot.core.domain import Reply
from bot.core.payloads import Notice, Replies
from bot.services import delivery
from storage import repo
from storage.db import Database
from storage.models import OutboxMessage, Staff
from tests.line.fake_api import FakeLine, Scripted
from tests.line.schema import check_body
from tests.support import link_accounts, make_facility, make_member

U = "Umember000000000000000000000000001"
PUSH = "/v2/bot/message/push"
REPLY = "/v2/bot/message/reply"
PASSED_ON = {"authorization", "content-type", "x-line-retry-key"}  # by the test's proxy


@pytest.fixture
async def sender(db: Database, fake_line: FakeLine) -> AsyncIterator[LineSender]:
    s = LineSender(LineApi("test-access-token", fake_line.url, fake_line.url), db)
    yield s
    await s.aclose()


async def setup_member(db: Database, t0: datetime, *, active: bool = True) -> int:
    fid = await make_facility(db, t0, alert_channel="C-ALERTS")
    mid = await make_member(db, fid, t0)
    await link_accounts(db, t0, [(mid, U)], active=active)
    async with db.transaction() as s:
        s.add(
            Staff(
                facility_id=fid, name="管理 者", role="manager", slack_user_id="UMGR", created_at=t0
            )
        )
    return mid


async def enqueue(
    db: Database,
    t0: datetime,
    key: str,
    *,
    token: str | None = None,
    text: str = "おはようございます",
) -> int:
    payload = Replies((Reply(text, (texts.START, texts.ABSENT)),), date(2026, 7, 1))
    async with db.transaction() as s:
        row_id = await repo.enqueue(
            s,
            key=key,
            platform="line",
            recipient=U,
            payload=payload,
            now=t0,
            member_id=1,
            reply_token=token,
            reply_token_until=t0 + timedelta(seconds=50) if token else None,
        )
    assert row_id is not None
    return row_id


async def row(db: Database, row_id: int) -> OutboxMessage:
    async with db.transaction() as s:
        return await s.get_one(OutboxMessage, row_id)


async def flush(db: Database, sender: LineSender, at: datetime) -> delivery.Flushed:
    return await delivery.flush(db, {"line": sender}, at)


def keys(fake: FakeLine) -> list[str]:
    return [r.headers["x-line-retry-key"] for r in fake.calls(PUSH)]


def test_retry_after_header_forms() -> None:
    now = datetime(2026, 7, 1, tzinfo=UTC)
    assert retry_after("7", now) == 7.0
    assert retry_after("Wed, 01 Jul 2026 00:00:30 GMT", now) == 30.0
    assert retry_after(None, now) is None and retry_after("soon", now) is None


async def test_429_with_retry_after_waits_then_delivers_once(
    db: Database, fake_line: FakeLine, sender: LineSender, t0: datetime
) -> None:
    await setup_member(db, t0)
    rid = await enqueue(db, t0, "remind:1")
    fake_line.script(PUSH, Scripted(429, {"message": "Too many requests"}, {"Retry-After": "7"}))
    assert (await flush(db, sender, t0)).retried == 1
    r = await row(db, rid)
    assert r.status == "pending" and r.next_attempt_at == t0 + timedelta(seconds=7)
    assert (await flush(db, sender, t0 + timedelta(seconds=5))).sent == 0  # not yet due
    assert (await flush(db, sender, t0 + timedelta(seconds=7))).sent == 1
    assert (await row(db, rid)).status == "sent" and (await row(db, rid)).via == "push"
    assert len(fake_line.shown) == 1
    assert len(keys(fake_line)) == 2 and len(set(keys(fake_line))) == 1
    assert keys(fake_line)[0] == r.retry_key
    for call in fake_line.calls(PUSH):
        check_body(call.body, call.path)


async def test_429_without_retry_after_uses_our_backoff(
    db: Database, fake_line: FakeLine, sender: LineSender, t0: datetime
) -> None:
    await setup_member(db, t0)
    rid = await enqueue(db, t0, "remind:1")
    fake_line.script(PUSH, Scripted(429, {"message": "Too many requests"}))
    await flush(db, sender, t0)
    assert (await row(db, rid)).next_attempt_at == t0 + delivery.backoff(1, None)


async def test_server_errors_are_retried_with_the_same_key_and_shown_once(
    db: Database, fake_line: FakeLine, sender: LineSender, t0: datetime
) -> None:
    await setup_member(db, t0)
    rid = await enqueue(db, t0, "remind:1")
    fake_line.script(PUSH, Scripted(500, {"message": "boom"}), Scripted(503, {"message": "x"}))
    at = t0
    for _ in range(3):
        await flush(db, sender, at)
        at += timedelta(minutes=5)
    assert (await row(db, rid)).status == "sent"
    assert len(keys(fake_line)) == 3 and len(set(keys(fake_line))) == 1
    assert len(fake_line.shown) == 1


async def test_a_push_already_accepted_is_not_shown_twice(
    db: Database, fake_line: FakeLine, sender: LineSender, t0: datetime
) -> None:
    """LINE accepted the push but the answer was lost: the retry gets 409 and is SENT."""
    await setup_member(db, t0)
    rid = await enqueue(db, t0, "remind:1")
    fake_line.accepted_keys[(await row(db, rid)).retry_key] = "req-earlier"
    assert (await flush(db, sender, t0)).sent == 1
    r = await row(db, rid)
    assert r.status == "sent" and r.external_id == "req-earlier"
    assert fake_line.shown == []


async def test_a_400_fails_with_lines_message_and_staff_hear_of_it(
    db: Database, fake_line: FakeLine, sender: LineSender, t0: datetime
) -> None:
    await setup_member(db, t0)
    rid = await enqueue(db, t0, "remind:1")
    error = {
        "message": "The request body has 1 error(s)",
        "details": [{"message": "May not be empty", "property": "messages[0].text"}],
    }
    fake_line.script(PUSH, Scripted(400, error))
    assert (await flush(db, sender, t0)).failed == 1
    r = await row(db, rid)
    assert r.status == "failed" and r.attempts == 1
    assert r.last_error is not None and "The request body has 1 error(s)" in r.last_error
    assert "messages[0].text: May not be empty" in r.last_error
    async with db.transaction() as s:
        notice = (
            await s.execute(select(OutboxMessage).where(OutboxMessage.platform == "slack"))
        ).scalar_one()
    assert notice.payload["kind"] == "delivery_failed"
    assert "The request body has 1 error(s)" in notice.payload["text"]
    assert len(fake_line.calls(PUSH)) == 1  # not retried


async def test_expired_reply_token_falls_back_to_push(
    db: Database, fake_line: FakeLine, sender: LineSender, t0: datetime
) -> None:
    await setup_member(db, t0)
    rid = await enqueue(db, t0, "reply:line:1", token="tok-1")
    fake_line.used_tokens.add("tok-1")  # LINE says: Invalid reply token
    assert (await flush(db, sender, t0 + timedelta(seconds=5))).sent == 1
    assert (await row(db, rid)).via == "push"
    assert len(fake_line.calls(REPLY)) == 1 and len(fake_line.calls(PUSH)) == 1
    assert fake_line.shown[0][0] == U


async def test_fresh_reply_token_is_used_and_stale_one_is_not(
    db: Database, fake_line: FakeLine, sender: LineSender, t0: datetime
) -> None:
    await setup_member(db, t0)
    fresh = await enqueue(db, t0, "reply:line:1", token="tok-1")
    assert (await flush(db, sender, t0 + timedelta(seconds=3))).sent == 1
    assert (await row(db, fresh)).via == "reply"
    stale = await enqueue(db, t0, "reply:line:2", token="tok-2")
    await flush(db, sender, t0 + timedelta(minutes=2))
    assert (await row(db, stale)).via == "push"
    assert [c.body["replyToken"] for c in fake_line.calls(REPLY)] == ["tok-1"]


async def test_unfollowed_account_is_not_pushed(
    db: Database, fake_line: FakeLine, sender: LineSender, t0: datetime
) -> None:
    await setup_member(db, t0, active=False)
    rid = await enqueue(db, t0, "remind:1")
    assert (await flush(db, sender, t0)).failed == 1
    r = await row(db, rid)
    assert r.status == "failed" and r.last_error is not None and "unfollowed" in r.last_error
    assert fake_line.requests == []


async def test_managers_are_warned_before_the_quota_runs_out(
    db: Database, fake_line: FakeLine, sender: LineSender, t0: datetime
) -> None:
    await setup_member(db, t0)
    fake_line.usage = 159  # of 200
    await enqueue(db, t0, "remind:1")
    await flush(db, sender, t0)  # 160 → 80 %, but LINE's figure was read before the push
    await enqueue(db, t0, "remind:2")
    await flush(db, sender, t0 + timedelta(minutes=10))  # reads 160/200 = 80 %
    await enqueue(db, t0, "remind:3")
    await flush(db, sender, t0 + timedelta(minutes=20))  # still 80 %: no second warning
    fake_line.usage = 190
    await enqueue(db, t0, "remind:4")
    await flush(db, sender, t0 + timedelta(minutes=30))  # 95 %
    async with db.transaction() as s:
        warnings = (
            (
                await s.execute(
                    select(OutboxMessage)
                    .where(OutboxMessage.platform == "slack")
                    .order_by(OutboxMessage.id)
                )
            )
            .scalars()
            .all()
        )
    assert [(w.payload["kind"], w.payload["threshold"], w.recipient) for w in warnings] == [
        ("quota_warning", 80, "UMGR"),
        ("quota_warning", 95, "UMGR"),
    ]
    assert "80%" in warnings[0].payload["text"]
    await enqueue(db, t0, "remind:5")
    await flush(db, sender, t0 + timedelta(minutes=31))
    assert len(fake_line.calls(PUSH)) == 5
    assert len(fake_line.calls("/v2/bot/message/quota")) == 4  # at most every 5 minutes


async def test_monthly_limit_is_a_failure_not_a_retry(
    db: Database, fake_line: FakeLine, sender: LineSender, t0: datetime
) -> None:
    await setup_member(db, t0)
    rid = await enqueue(db, t0, "remind:1")
    fake_line.script(PUSH, Scripted(429, {"message": "You have reached your monthly limit."}))
    assert (await flush(db, sender, t0)).failed == 1
    assert "monthly limit" in ((await row(db, rid)).last_error or "")


async def test_a_reply_is_not_retried_a_push_is(
    db: Database, fake_line: FakeLine, sender: LineSender, t0: datetime
) -> None:
    """A reply token is single use: after a failed reply the retry is a push with the key."""
    await setup_member(db, t0)
    rid = await enqueue(db, t0, "reply:line:1", token="tok-1")
    fake_line.script(REPLY, Scripted(500, {"message": "boom"}))
    assert (await flush(db, sender, t0 + timedelta(seconds=1))).retried == 1
    await flush(db, sender, t0 + timedelta(seconds=10))
    r = await row(db, rid)
    assert (r.status, r.via) == ("sent", "push")
    assert len(fake_line.calls(REPLY)) == 1 and len(fake_line.calls(PUSH)) == 1


async def test_our_own_push_count_warns_even_when_line_reports_less(
    db: Database, fake_line: FakeLine, sender: LineSender, t0: datetime
) -> None:
    """Pushes counted from the outbox (via="push") this month; last month's do not count."""
    await setup_member(db, t0)
    async with db.transaction() as s:
        for i in range(165):
            rid = await repo.enqueue(
                s, key=f"old:{i}", platform="line", recipient=U, payload=Notice(), now=t0
            )
            r_ = await s.get_one(OutboxMessage, rid)
            last_month = t0 - timedelta(days=3) if i >= 160 else t0
            r_.status, r_.via, r_.sent_at = "sent", "push", last_month
    fake_line.usage = 0
    await enqueue(db, t0, "remind:1")
    await flush(db, sender, t0)
    async with db.transaction() as s:
        warning = (
            await s.execute(select(OutboxMessage).where(OutboxMessage.platform == "slack"))
        ).scalar_one()
    assert (warning.payload["threshold"], warning.payload["used"]) == (80, 160)


async def test_the_environments_proxy_is_used_and_not_looked_up_for_every_message(
    db: Database, fake_line: FakeLine, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A facility behind a proxy names it in HTTP(S)_PROXY: the messages go through it, with
    its credentials. The environment (and ~/.netrc) is read once, when the client is built:
    the SDK's own session looked both up in a worker thread for every request."""
    through: list[tuple[str, str | None]] = []  # what the proxy was asked: URL, credentials

    async def forward(request: web.Request) -> web.Response:
        through.append((str(request.url), request.headers.get("Proxy-Authorization")))
        headers = {k: v for k, v in request.headers.items() if k.lower() in PASSED_ON}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, str(request.url), headers=headers, data=await request.read()
            ) as answer,
        ):
            return web.Response(status=answer.status, body=await answer.read(),
                                content_type=answer.content_type)  # fmt: skip

    proxy = web.Application()
    proxy.router.add_route("*", "/{path:.*}", forward)
    runner = web.AppRunner(proxy)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    monkeypatch.setenv("HTTP_PROXY", f"http://nippo:pa%40ss@127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    lookups: list[str] = []
    for name in ("get_env_proxy_for_url", "netrc_from_env"):
        real = getattr(aiohttp.client, name)

        def counted(*args: object, _real: Any = real, _name: str = name) -> Any:
            lookups.append(_name)
            return _real(*args)

        monkeypatch.setattr(aiohttp.client, name, counted)

    await setup_member(db, t0)
    for n in range(3):
        await enqueue(db, t0, f"remind:{n}", text=f"お知らせ {n}")
    sender = LineSender(LineApi("test-access-token", fake_line.url, fake_line.url), db)
    try:
        assert (await flush(db, sender, t0)).sent == 3
    finally:
        await sender.aclose()
        await runner.cleanup()

    assert [c.body["messages"][0]["text"] for c in fake_line.calls(PUSH)] == [
        "お知らせ 0", "お知らせ 1", "お知らせ 2"
    ]  # fmt: skip
    credentials = "Basic " + base64.b64encode(b"nippo:pa@ss").decode()
    assert through.count((fake_line.url + PUSH, credentials)) == 3
    assert lookups == []


def test_env_proxy_follows_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert env_proxy("https://api.line.me") == "http://proxy.example:3128"
    assert env_proxy("https://internal.example") is None
    monkeypatch.delenv("HTTPS_PROXY")
    assert env_proxy("https://api.line.me") is None


async def test_a_flush_out_of_rounds_says_there_may_be_more(
    db: Database, fake_line: FakeLine, sender: LineSender, t0: datetime
) -> None:
    """One recipient's messages go one a round, in order; a flush that used all its rounds
    says so (the reply worker then flushes again), one that found nothing left does not."""
    await setup_member(db, t0)
    for n in range(3):
        await enqueue(db, t0, f"remind:{n}", text=f"お知らせ {n}")
    first = await delivery.flush(db, {"line": sender}, t0, rounds=2)
    assert (first.sent, first.more) == (2, True)
    second = await delivery.flush(db, {"line": sender}, t0, rounds=2)
    assert (second.sent, second.more) == (1, False)
    assert [c.body["messages"][0]["text"] for c in fake_line.calls(PUSH)] == [
        "お知らせ 0", "お知らせ 1", "お知らせ 2"
    ]  # fmt: skip
