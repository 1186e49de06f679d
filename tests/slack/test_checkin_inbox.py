"""One inbox for every platform: a LINE text, a Slack DM and a console text reach the same
dispatch, a stale button gets one answer from one rule whichever platform it was pressed on,
and a Slack event that keeps failing is retried and quarantined as LINE's are."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from adapters.line.render import encode_postback
from bot.core import texts
from bot.core.domain import ContactRef, InboundMessage, Platform
from bot.core.inbound import Inbound, Kind
from bot.services import checkin, delivery, inbox
from storage.db import Database
from storage.models import DailyReport, InboxEvent, OutboxMessage
from tests.safety.test_linking import Both
from tests.safety.test_linking import both as both
from tests.slack.conftest import Rig
from tests.slack.test_dm_checkin import MEMBER, dm, exchange, tap
from tests.support import Recorder, jst, link_code, make_member

DAY = "2026-07-01"  # a Wednesday
LINE_USER = "Uline0000000000000000000000000001"


class Dispatched:
    """Calls through to the real `inbox.dispatch`, noting which platform and kind came in."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Kind]] = []
        self._real = inbox.dispatch

    async def __call__(self, session: Any, event: Inbound, now: datetime, *a: Any) -> None:
        self.seen.append((event.msg.sender.platform.value, event.kind))
        await self._real(session, event, now, *a)


async def _replies(db: Database, platform: str, recipient: str) -> list[dict[str, Any]]:
    async with db.transaction() as s:
        stmt = select(OutboxMessage.payload).where(
            OutboxMessage.platform == platform, OutboxMessage.recipient == recipient
        )
        return [dict(p) for p in (await s.scalars(stmt.order_by(OutboxMessage.id))).all()]


async def test_a_line_text_a_slack_dm_and_a_console_text_reach_the_same_dispatch(
    both: Both, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Dispatched()
    monkeypatch.setattr(inbox, "dispatch", spy)
    at = jst(DAY, "10:00")

    shown = await both.say(LINE_USER, "こんにちは", at)
    both.clock.at = at
    slack = await exchange(both.slack, dm("こんにちは", at))
    console = InboundMessage("console-1", ContactRef(Platform.CONSOLE, "c1"), at, text="こんにちは")
    async with both.db.transaction() as session:
        assert await inbox.receive(session, console, at)
    recorder = Recorder()
    await delivery.flush(both.db, {"console": recorder}, at)

    assert spy.seen == [("line", Kind.TEXT), ("slack", Kind.TEXT), ("console", Kind.TEXT)]
    # Three front doors, one linking prompt (the same dialog answered each).
    assert shown == [texts.LINK_PROMPT]
    assert slack.args["text"] == texts.LINK_PROMPT
    assert [r.text for r in recorder.replies_to("c1")] == [texts.LINK_PROMPT]


async def test_a_stale_line_postback_and_a_stale_slack_button_get_the_one_answer(
    both: Both,
) -> None:
    at = jst(DAY, "10:05")
    both.clock.at = at
    on_line = await make_member(both.db, both.facility_id, at, "山田 太郎")
    on_slack = await make_member(both.db, both.facility_id, at, "佐藤 花子", kana=None)
    assert await both.say(LINE_USER, await link_code(both.db, on_line, at), at)
    await exchange(both.slack, dm(await link_code(both.db, on_slack, at), at))

    yesterday = date(2026, 6, 30)
    line_shown = await both.tap(LINE_USER, encode_postback("start", yesterday), at)
    both.clock.at = at
    slack_shown = await exchange(
        both.slack, tap(f"{yesterday.isoformat()}|start", "開始します", at), interactive=True
    )

    assert line_shown == [texts.STALE_BUTTON]
    assert slack_shown.args["text"] == texts.STALE_BUTTON
    line_answer = (await _replies(both.db, "line", LINE_USER))[-1]
    slack_answer = (await _replies(both.db, "slack", MEMBER))[-1]
    # One rule wrote both rows: the same words and today's buttons, for today's date.
    assert line_answer == slack_answer
    assert line_answer["business_date"] == DAY
    assert line_answer["replies"][0]["text"] == texts.STALE_BUTTON
    assert "start" in [c["value"] for c in line_answer["replies"][0]["choices"]]
    async with both.db.transaction() as s:
        assert (await s.execute(select(DailyReport))).first() is None


async def _row(db: Database, event_id: str) -> InboxEvent:
    async with db.transaction() as s:
        stmt = select(InboxEvent).where(InboxEvent.event_id == event_id)
        return (await s.execute(stmt)).scalar_one()


async def _until_tried(db: Database, event_id: str) -> InboxEvent:
    """The row once the handling after the ack has tried it (bolt runs it as a task)."""
    for _ in range(200):
        row = await _row(db, event_id)
        if row.attempts:
            return row
        await asyncio.sleep(0.02)
    raise AssertionError("the event was never tried")


async def test_a_failing_slack_event_is_retried_then_quarantined_like_lines(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    at = jst(DAY, "10:05")
    rig.clock.at = at
    mid = await make_member(rig.db, rig.facility_id, at, "山田 太郎")
    await exchange(rig, dm(await link_code(rig.db, mid, at), at))
    real = checkin.handle_message

    async def broken(session: Any, msg: InboundMessage, now: datetime) -> None:
        if msg.text == "開始 体調4 睡眠7 データ入力":
            raise RuntimeError("injected: database hiccup")
        await real(session, msg, now)

    monkeypatch.setattr(checkin, "handle_message", broken)
    posted = len(rig.fake.of("chat.postMessage"))
    body = dm("開始 体調4 睡眠7 データ入力", at)
    assert (await rig.event(body)).status_code == 200
    event_id = f"{body['team_id']}:{body['event_id']}"

    row = await _until_tried(rig.db, event_id)  # try 1: the pass right after the ack
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.error == "RuntimeError: injected: database hiccup"
    slack_pass = rig.app.state.inbox_processors["slack"]  # what the scheduler loop calls
    assert await slack_pass(at, None) == 0  # try 2
    assert (await _row(rig.db, event_id)).status == "pending"
    assert await slack_pass(at, None) == 0  # try 3: the last
    row = await _row(rig.db, event_id)
    assert (row.status, row.attempts) == ("failed", inbox.MAX_HANDLING_ATTEMPTS)
    assert row.body == body  # kept raw for the operator (`nippo inbox failed|retry`)
    assert "Slack inbox event quarantined" in caplog.text
    assert await slack_pass(at, None) == 0  # never tried again
    assert (await _row(rig.db, event_id)).attempts == inbox.MAX_HANDLING_ATTEMPTS

    # The member's next message is answered as ever; the failed one never was.
    after = await exchange(rig, dm("こんにちは", at))
    assert after.args["channel"] == "D" + MEMBER
    assert len(rig.fake.of("chat.postMessage")) == posted + 1
    async with rig.db.transaction() as s:
        assert (await s.execute(select(DailyReport))).first() is None
