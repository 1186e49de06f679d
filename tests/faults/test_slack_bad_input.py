"""`POST /slack/events` refuses what it must before reading or trusting it (issue #23): a huge
body is cut off at 1 MiB with 413 (and the server's memory stays small), a missing or malformed
timestamp header is a 4xx, never a 500, and another workspace's signed request is refused."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx

from bot.app.settings import Settings
from bot.app.web import create_app
from storage.db import Database
from storage.models import InboxEvent
from tests.faults.server import Server
from tests.slack.conftest import SECRET, TEAM, Rig, sample, sign
from tests.slack.fake_slack import FakeSlack, Served

HUGE = 200 * 1024 * 1024
CHUNK = b"x" * (1024 * 1024)


def _rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _chunks() -> Iterator[bytes]:
    for _ in range(HUGE // len(CHUNK)):
        yield CHUNK


async def test_a_200_mib_body_gets_413_and_the_server_stays_small(
    db_url: str, tmp_path: Path
) -> None:
    async with Served(FakeSlack()) as fake:
        env = {
            "DATABASE_URL": db_url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_BASE_URL": fake.url,
            "SCHEDULER_ENABLED": "false",
        }
        server = Server(env, tmp_path)
        await asyncio.to_thread(server.start)
        try:
            assert server.proc is not None
            before = _rss_peak_mb(server.proc.pid)

            def post() -> int:
                headers = {"content-type": "application/json", "x-slack-signature": "v0=00"}
                try:  # the server may close the connection once it has answered
                    resp = httpx.post(
                        f"{server.url}/slack/events", content=_chunks(), headers=headers, timeout=60
                    )
                except httpx.HTTPError:
                    return -1
                return resp.status_code

            status = await asyncio.to_thread(post)
            peak = _rss_peak_mb(server.proc.pid)
        finally:
            await asyncio.to_thread(server.stop)
    assert status in (413, -1)
    assert peak < 200, f"peak RSS {peak:.0f} MB (before the request: {before:.0f} MB)"


async def test_a_declared_huge_body_is_refused_before_it_is_read(rig: Rig) -> None:
    resp = await rig.post(b"{}", "application/json", headers={"content-length": str(HUGE)})
    assert resp.status_code == 413


async def _post(rig: Rig, headers: dict[str, str]) -> httpx.Response:
    body = b'{"type": "event_callback"}'
    return await rig.http.post(
        "/slack/events", content=body, headers={"content-type": "application/json", **headers}
    )


async def test_missing_or_malformed_timestamps_are_4xx_not_500(rig: Rig) -> None:
    body = b'{"type": "event_callback"}'
    ts = str(int(time.time()))
    good = sign(body, ts)
    cases = [
        {"x-slack-signature": good},  # no timestamp
        {"x-slack-request-timestamp": ts},  # no signature
        {"x-slack-request-timestamp": "", "x-slack-signature": good},
        {"x-slack-request-timestamp": "abc", "x-slack-signature": good},
        {"x-slack-request-timestamp": "1.5", "x-slack-signature": good},
        {"x-slack-request-timestamp": "9" * 40, "x-slack-signature": good},
    ]
    for headers in cases:
        resp = await _post(rig, headers)
        assert resp.status_code in (400, 401), (headers, resp.status_code)
    assert await rig.count(InboxEvent) == 0


async def _team_rig(
    db: Database, db_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeSlack]]:
    async with Served(FakeSlack()) as fake:
        settings = Settings(
            database_url=db_url,
            slack_bot_token="xoxb-test",
            slack_signing_secret=SECRET,
            slack_api_base_url=fake.url,
            slack_team_id=TEAM,
        )
        app = create_app(settings, db)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nippo.test") as http:
            yield http, fake


async def test_a_signed_request_from_another_workspace_is_refused(
    db: Database, db_url: str
) -> None:
    async for http, _fake in _team_rig(db, db_url):
        for team, expected in (("T_OTHER", 403), (TEAM, 200)):
            event = sample("events/message_channel.json")
            event.update(team_id=team, event_id=f"Ev{team}")
            event["event"].update(user="U_X", channel="DU_X", channel_type="im", text="開始")
            body = json.dumps(event).encode()
            ts = str(int(time.time()))
            resp = await http.post(
                "/slack/events",
                content=body,
                headers={
                    "content-type": "application/json",
                    "x-slack-request-timestamp": ts,
                    "x-slack-signature": sign(body, ts),
                },
            )
            assert resp.status_code == expected, team
        async with db.transaction() as s:
            from sqlalchemy import func, select

            stored = (await s.execute(select(func.count()).select_from(InboxEvent))).scalar_one()
        assert stored == 1  # only the installed workspace's event was kept
