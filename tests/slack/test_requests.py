"""Requests signed like Slack's reach bolt; forged, stale and retried ones change nothing."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx
import pytest

from bot.app.settings import Settings
from bot.app.web import create_app
from storage.db import Database
from storage.models import InboxEvent, OutboxMessage
from tests.slack.conftest import STAFF1, TEAM, Rig, sample, sign
from tests.support import make_member


def test_signing_helper_matches_slack_vector() -> None:
    vectors = json.loads(Path("/work/shared/specs/payloads/vectors.json").read_text())["slack"]
    got = sign(vectors["body"].encode(), vectors["timestamp"], vectors["signing_secret"])
    assert got == vectors["signature"]


async def test_url_verification_answers_the_challenge(rig: Rig) -> None:
    body = sample("events/url_verification.json")
    resp = await rig.event(body)
    assert resp.status_code == 200
    assert body["challenge"] in resp.text


def dm_event(user: str, text: str, event_id: str = "Ev111") -> dict[str, object]:
    body = sample("events/message_channel.json")
    body["team_id"] = TEAM
    body["event_id"] = event_id
    body["event"].update(user=user, text=text, channel="D" + user, channel_type="im")
    body["event"]["ts"] = f"{time.time():.6f}"
    return body


async def test_forged_signature_is_refused_and_nothing_stored(rig: Rig) -> None:
    body = json.dumps(dm_event("U_MEMBER", "開始")).encode()
    ts = str(int(time.time()))
    resp = await rig.post(body, "application/json", ts=ts, signature=sign(body, ts, "wrong"))
    assert resp.status_code == 401
    assert await rig.count(InboxEvent) == 0
    assert await rig.count(OutboxMessage) == 0


async def test_stale_timestamp_is_refused_and_nothing_stored(rig: Rig) -> None:
    body = json.dumps(dm_event("U_MEMBER", "開始")).encode()
    old = str(int(time.time()) - 6 * 60)  # correctly signed, but six minutes old
    resp = await rig.post(body, "application/json", ts=old)
    assert resp.status_code == 401
    assert await rig.count(InboxEvent) == 0
    assert not rig.fake.of("chat.postMessage")


async def test_a_retried_event_is_processed_once(rig: Rig) -> None:
    rig.clock.at = rig.clock.at  # business logic runs at 11:00 JST
    event = dm_event("U_NEW", "こんにちは", event_id="EvRETRY")
    first = await rig.event(event)
    retry = await rig.event(
        event, headers={"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
    )
    assert first.status_code == retry.status_code == 200
    posts = await rig.fake.wait_for("chat.postMessage")
    assert await rig.count(InboxEvent, InboxEvent.event_id == f"{TEAM}:EvRETRY") == 1
    assert await rig.count(OutboxMessage) == 1
    assert len(posts) == 1 and posts[0].args["channel"] == "DU_NEW"
    assert "6桁" in posts[0].args["text"]  # an unknown account is asked for its link code


async def test_slack_is_off_without_credentials(
    db: Database, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.app.web")
    app = create_app(Settings(database_url=db_url, slack_bot_token=None), db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://nippo.test") as http:
        resp = await http.post("/slack/events", content=b"{}")
    assert resp.status_code == 404
    assert any("Slack is off" in r.getMessage() for r in caplog.records)


async def test_messages_from_channels_and_bots_are_ignored(rig: Rig) -> None:
    await make_member(rig.db, rig.facility_id, rig.clock.at)
    channel_msg = sample("events/message_channel.json")  # channel_type "channel"
    bot_msg = dm_event("U_NEW", "bot says hi", event_id="EvBOT")
    bot_msg["event"]["bot_id"] = "BOTHER"  # type: ignore[index]
    assert (await rig.event(channel_msg)).status_code == 200
    assert (await rig.event(bot_msg)).status_code == 200
    assert await rig.count(InboxEvent) == 0


@pytest.mark.slow
async def test_slack_hears_back_before_the_slow_work_is_done(rig: Rig) -> None:
    """Slack allows 3 seconds: the ack goes out first, Web API calls happen after it.

    Ordered, not timed: each answer must reach Slack while the 3-second Web API calls the
    work makes are still unanswered (a wall-clock bound flaked on a loaded machine)."""
    await make_member(rig.db, rig.facility_id, rig.clock.at)
    rig.fake.slow = {"chat.postEphemeral": 3.0, "conversations.open": 3.0}

    def answered(method: str) -> bool:
        return any(c.answered for c in rig.fake.of(method))

    command = await rig.command(STAFF1, "status")
    assert command.status_code == 200
    assert not answered("chat.postEphemeral")
    event = await rig.event(dm_event("U_NEW", "こんにちは", event_id="EvSLOW"))
    assert event.status_code == 200
    assert not answered("conversations.open")
    await rig.fake.wait_for("chat.postEphemeral")
    await rig.fake.wait_for("chat.postMessage")  # the DM reply still arrives
