"""POST /callback/line: signatures, official samples, dedupe, and what a bad request changes."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.webhook import WebhookParser
from sqlalchemy import func, select

from adapters.line.webhook import line_router
from bot.app.settings import Settings
from bot.app.web import create_app
from bot.core import texts
from storage import repo
from storage.db import Database
from storage.models import DailyReport, Identity, InboxEvent, OutboxMessage
from tests.line.conftest import (
    PAYLOADS,
    SECRET,
    USER,
    Line,
    event,
    line_settings,
    process_pending_inbox,
    sample,
    sign,
    webhook,
)
from tests.line.fake_api import FakeLine
from tests.support import (
    FakeClock,
    jst,
    keep_storing,
    link_accounts,
    link_code,
    make_facility,
    make_member,
)

DAY = "2026-07-01"


async def count(db: Database, model: type, *where: object) -> int:
    async with db.transaction() as s:
        stmt = select(func.count()).select_from(model).where(*where)
        return int((await s.execute(stmt)).scalar_one())


async def counts(db: Database) -> dict[str, int]:
    return {
        m.__tablename__: await count(db, m)
        for m in (InboxEvent, OutboxMessage, Identity, DailyReport)
    }


def test_signature_vector_from_the_sdk_matches_ours() -> None:
    vector = json.loads((PAYLOADS / "vectors.json").read_text())["line"]
    assert sign(vector["body"].encode(), vector["channel_secret"]) == vector["signature"]
    parser = WebhookParser(vector["channel_secret"])
    with pytest.raises(InvalidSignatureError):
        parser.parse('{"events": []}', vector["signature"])


def test_the_sdk_parser_accepts_every_official_sample() -> None:
    parser = WebhookParser(SECRET)
    files = sorted((PAYLOADS / "line" / "events").glob("*.json"))
    assert len(files) == 29  # 28 events alone + the verify button's empty webhook
    for path in [PAYLOADS / "line" / "webhook_all_events.json", *files]:
        body = path.read_text(encoding="utf-8")
        events = parser.parse(body, sign(body.encode()))
        assert len(events) == len(json.loads(body)["events"])


async def test_verify_button_webhook_without_events_is_ok(line: Line) -> None:
    before = await counts(line.db)
    response = await line.post(webhook())
    assert response.status_code == 200
    assert await counts(line.db) == before


async def test_forged_or_missing_signature_is_refused_and_stores_nothing(
    line: Line, t0: datetime
) -> None:
    body = webhook(event("00_message_text", t0))
    before = await counts(line.db)
    assert (await line.post(body, signature=None)).status_code == 400
    assert (await line.post(body, signature=sign(body, "another-secret"))).status_code == 400
    assert (await line.post(body, signature="not base64 at all")).status_code == 400
    tampered = body.replace(b"Hello, world", b"Hello, World")
    assert (await line.post(tampered, signature=sign(body))).status_code == 400
    assert await counts(line.db) == before
    assert line.fake.requests == []


async def test_malformed_json_and_oversized_bodies(line: Line) -> None:
    before = await counts(line.db)
    not_json = b'{"events": [{"type": "message", "n": Infinity}]}'  # Python's json takes it
    for bad in (b"{not json", b'{"destination": "U1"}', b'{"events": "x"}', b"\xff\xfe", not_json):
        assert (await line.post(bad)).status_code == 400, bad
    huge = b'{"events": [], "pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert (await line.post(huge)).status_code == 413

    async def streamed() -> AsyncIterator[bytes]:  # chunked: no Content-Length to refuse on
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    headers = {"X-Line-Signature": sign(huge), "Content-Type": "application/json"}
    response = await line.client.post("/callback/line", content=streamed(), headers=headers)
    assert response.status_code == 413 and "content-length" not in response.request.headers
    assert await counts(line.db) == before


async def _acknowledged_then_died(db: Database, t0: datetime) -> dict[str, Any]:
    """A text event that a process stored and acknowledged (200), then died before handling:
    its webhook route has no after-ack worker."""
    dying = FastAPI()
    dying.include_router(line_router(SECRET, db, FakeClock(t0), after_ack=None))
    ev = event("00_message_text", t0, message={"text": "こんにちは"})
    body = webhook(ev)
    async with AsyncClient(transport=ASGITransport(app=dying), base_url="http://t") as client:
        response = await client.post(
            "/callback/line", content=body, headers={"X-Line-Signature": sign(body)}
        )
    assert response.status_code == 200
    return ev


@pytest.mark.slow
async def test_what_a_dead_process_acknowledged_is_handled_by_the_next_start(
    db: Database, db_url: str, fake_line: FakeLine, t0: datetime
) -> None:
    """Stored and acknowledged, then the process died before handling it: the restarted
    app's scheduler handles it on its first tick and answers, with no new webhook to prompt
    it."""
    ev = await _acknowledged_then_died(db, t0)
    assert await count(db, InboxEvent, InboxEvent.status == "pending") == 1

    settings = line_settings(db_url, fake_line).model_copy(update={"scheduler_enabled": True})
    restarted = create_app(settings, db, FakeClock(t0))
    async with restarted.router.lifespan_context(restarted):
        for _ in range(500):  # the first tick runs at start; delivery every 3 s
            if fake_line.calls("/v2/bot/message/reply"):
                break
            await asyncio.sleep(0.02)
    assert await count(db, InboxEvent, InboxEvent.status == "done") == 1
    replies = fake_line.calls("/v2/bot/message/reply")
    assert [r.body["replyToken"] for r in replies] == [ev["replyToken"]]


async def test_the_acknowledgement_does_not_wait_for_the_handling(line: Line, t0: datetime) -> None:
    line.fake.hold_replies = threading.Event()  # LINE is slow to take the reply
    body = webhook(event("00_message_text", t0))
    headers = {"X-Line-Signature": sign(body)}
    response = await asyncio.wait_for(
        line.client.post("/callback/line", content=body, headers=headers), 5
    )
    assert response.status_code == 200
    assert line.fake.shown == []  # the answer is still on its way

    line.fake.hold_replies.set()
    await line.app.state.line_worker.settled()
    assert len(line.fake.shown) == 1


async def test_shutting_down_lets_the_pass_under_way_finish(
    db: Database, db_url: str, fake_line: FakeLine, t0: datetime
) -> None:
    fake_line.hold_replies = threading.Event()
    app = create_app(line_settings(db_url, fake_line), db, FakeClock(t0))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://nippo.test") as client,
    ):
        body = webhook(event("00_message_text", t0))
        response = await client.post(
            "/callback/line", content=body, headers={"X-Line-Signature": sign(body)}
        )
        assert response.status_code == 200
        async with asyncio.timeout(5):
            while not fake_line.calls("/v2/bot/message/reply"):  # noqa: ASYNC110 (its own thread)
                await asyncio.sleep(0.01)
        threading.Timer(0.3, fake_line.hold_replies.set).start()
    # The app stopped while its reply was on the way: the reply went out once, recorded.
    assert len(fake_line.shown) == 1
    async with db.transaction() as s:
        assert (await s.execute(select(OutboxMessage.status))).scalars().all() == ["sent"]


async def test_replayed_event_id_and_redelivery_are_no_ops(line: Line, t0: datetime) -> None:
    first = event("00_message_text", t0, event_id="01REPLAYED")
    await line.send(first)
    after_first = await counts(line.db)
    assert after_first["inbox_event"] == 1 and after_first["outbox_message"] == 1

    await line.send(first)  # a captured request replayed byte for byte
    again = event("00_message_text", t0, event_id="01REPLAYED", redelivery=True)
    await line.send(again)  # LINE's redelivery of the same event
    assert await counts(line.db) == after_first
    assert len(line.fake.calls("/v2/bot/message/reply")) == 1

    # A redelivered event we never saw is handled: the first delivery may have been lost.
    await line.send(event("00_message_text", t0, redelivery=True))
    assert await count(line.db, InboxEvent) == 2


async def test_whole_official_sample_file_is_stored_and_acknowledged(
    line: Line, t0: datetime
) -> None:
    events = sample("webhook_all_events.json")["events"]
    for i, ev in enumerate(events):  # the sample shares one token and id among 28 events
        ev["webhookEventId"] = f"01ALL{i:020d}"
        if "replyToken" in ev:
            ev["replyToken"] = f"token-{i}"
        ev["timestamp"] = int(t0.timestamp() * 1000)
    body = json.dumps({"destination": "Ubot", "events": events}).encode()
    assert (await line.post(body)).status_code == 200

    async with line.db.transaction() as s:
        rows = (await s.execute(select(InboxEvent).order_by(InboxEvent.id))).scalars().all()
    assert len(rows) == 28
    assert rows[0].body == events[0]  # kept raw
    status = {
        r.body["type"] + "/" + str(r.body.get("message", {}).get("type")): r.status for r in rows
    }
    assert status["undefined/None"] == "ignored"
    assert status["join/None"] == "ignored"
    assert status["beacon/None"] == "ignored"
    assert all(r.status in ("done", "ignored") for r in rows)
    # Every answer went to the sample's 1:1 user as a reply; groups and rooms got nothing.
    replies = line.fake.calls("/v2/bot/message/reply")
    assert replies and all(r.body["replyToken"].startswith("token-") for r in replies)
    assert line.fake.calls("/v2/bot/message/push") == []
    texts_sent = [m["text"] for r in replies for m in r.body["messages"] if m["type"] == "text"]
    assert texts.UNSUPPORTED not in texts_sent  # unlinked: only the linking prompt
    assert set(texts_sent) == {texts.LINK_PROMPT}


async def test_unlinked_user_probing_a_members_name_learns_nothing(
    line: Line, t0: datetime
) -> None:
    fid = await make_facility(line.db, t0)
    mid = await make_member(line.db, fid, t0, name="佐藤 花子")
    code = await link_code(line.db, mid, t0)
    at = jst(DAY, "09:00")
    await line.send(event("00_message_text", at, user="Umember", message={"text": code}), at=at)
    await line.send(
        event("00_message_text", at, user="Umember", message={"text": "開始 体調2 睡眠3 入力"})
    )
    before = await counts(line.db)
    for probe in ("佐藤 花子", "佐藤さんの記録", "今日の記録", "000000"):
        await line.send(event("00_message_text", at, user="Ustranger", message={"text": probe}))
    sent = [r.body for r in line.fake.calls("/v2/bot/message/reply")][-4:]
    expected = [texts.LINK_PROMPT] * 3 + [texts.LINK_WRONG]
    assert [[m.get("text") for m in b["messages"]] for b in sent] == [[e] for e in expected]
    for body in sent:
        assert "佐藤" not in json.dumps(body, ensure_ascii=False)
        assert "quickReply" not in body["messages"][0]
    after = await counts(line.db)
    assert after["daily_report"] == before["daily_report"] == 1
    assert after["identity"] == before["identity"] + 1  # only the stranger's own account


async def test_without_credentials_the_route_is_not_mounted(
    db: Database, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    app = create_app(Settings(database_url=db_url), db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        body = webhook()
        response = await client.post(
            "/callback/line", content=body, headers={"X-Line-Signature": sign(body)}
        )
        assert response.status_code == 404
        assert (await client.get("/healthz")).status_code == 200
    assert "LINE is off" in caplog.text
    assert app.state.senders == {} and app.state.inbox_processors == {}


async def test_events_are_stored_before_ack_and_survive_a_crash(db: Database, t0: datetime) -> None:
    """The process dies after the 200: the scheduler's pass handles the pending rows."""
    ev = await _acknowledged_then_died(db, t0)
    assert await count(db, InboxEvent, InboxEvent.status == "pending") == 1
    assert await count(db, OutboxMessage) == 0

    assert await process_pending_inbox(db, t0) == 1
    assert await process_pending_inbox(db, t0) == 0  # nothing twice
    assert await count(db, InboxEvent, InboxEvent.status == "done") == 1
    async with db.transaction() as s:
        out = (await s.execute(select(OutboxMessage))).scalar_one()
    assert out.recipient == USER and out.reply_token == ev["replyToken"]
    assert out.payload["replies"][0]["text"] == texts.LINK_PROMPT


async def test_the_scheduler_pass_waits_while_webhooks_wait_for_their_commit(
    line: Line, t0: datetime
) -> None:
    """A tick landing in a burst: its recovery pass lets the acknowledgements go first."""
    async with line.db.transaction() as s:
        left = event("00_message_text", t0, message={"text": "こんにちは"})
        await repo.add_inbox(s, "line", left["webhookEventId"], left, t0)
    busy = asyncio.create_task(keep_storing(line.app.state.line_writer, 0.6))
    await asyncio.sleep(0)
    scheduler_pass = asyncio.create_task(line.app.state.inbox_processors["line"](t0, None))
    await asyncio.sleep(0.3)
    assert await count(line.db, InboxEvent, InboxEvent.status == "pending") > 1
    assert await count(line.db, OutboxMessage) == 0  # not handled during the burst
    await busy
    await scheduler_pass
    assert await count(line.db, OutboxMessage) == 1  # handled once the burst was over
    assert (
        await count(
            line.db,
            InboxEvent,
            InboxEvent.event_id == left["webhookEventId"],
            InboxEvent.status == "done",
        )
        == 1
    )


async def test_stored_events_are_handled_once_and_in_order_per_member(
    db: Database, t0: datetime
) -> None:
    """Several members' events wait in the inbox; two passes race (scheduler and after-ack):
    each event is handled once, and each member's events in the order they were sent."""
    fid = await make_facility(db, t0)
    app = FastAPI()
    app.include_router(line_router(SECRET, db, FakeClock(t0), after_ack=None))
    at = jst(DAY, "10:00")
    users = [f"Umember{i}" for i in range(4)]
    events = []
    for i, user in enumerate(users):
        mid = await make_member(db, fid, t0, name=f"利用者 {i}")
        code = await link_code(db, mid, t0)
        events.append(event("00_message_text", at, user=user, message={"text": code}))
    for user in users:
        text = "開始 体調4 睡眠7 データ入力"
        events.append(event("00_message_text", at, user=user, message={"text": text}))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        body = webhook(*events)
        response = await client.post(
            "/callback/line", content=body, headers={"X-Line-Signature": sign(body)}
        )
    assert response.status_code == 200
    done = await asyncio.gather(process_pending_inbox(db, at), process_pending_inbox(db, at))
    assert sum(done) == len(events)
    assert await count(db, OutboxMessage) == len(events)
    assert await count(db, DailyReport, DailyReport.status == "started") == len(users)


async def test_an_event_that_keeps_failing_is_given_up_after_five_tries(
    db: Database, t0: datetime
) -> None:
    class Broken:
        async def fetch(self, message_id: str, chat: str) -> tuple[bytes, str]:
            raise ConnectionError("LINE content API unreachable")

    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    await link_accounts(db, t0, [(mid, USER)])
    app = FastAPI()
    app.include_router(line_router(SECRET, db, FakeClock(t0), after_ack=None))
    body = webhook(event("24_message_image", t0))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        await client.post("/callback/line", content=body, headers={"X-Line-Signature": sign(body)})
    for attempt in range(1, 6):
        assert await process_pending_inbox(db, t0, Broken()) == 0
        async with db.transaction() as s:
            row = (await s.execute(select(InboxEvent))).scalar_one()
        assert row.attempts == attempt
        assert row.error is not None and "unreachable" in row.error
    assert row.status == "failed"
    async with db.transaction() as s:
        told = (await s.execute(select(OutboxMessage))).scalar_one()
    assert told.payload["replies"] == [{"text": texts.PHOTO_FAILED}]
