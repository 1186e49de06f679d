"""Slack over Socket Mode (SLACK_APP_TOKEN, no public URL): the same scenarios as over HTTP.

The app runs with its lifespan, opens `apps.connections.open` on the fake Web API and the
websocket of tests/slack/fake_socket.py; `SocketRig` is the HTTP rig of conftest.py whose
`post` sends each request as the envelope Slack would send instead, and waits for its
acknowledgement. The existing scenario tests then run unchanged over the websocket: what the
fake Web API received, what the database holds and what staff and members see are the
same as over `POST /slack/events`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from sqlalchemy import select

from adapters.slack.deps import web_client
from adapters.slack.socket_mode import SocketMode
from bot.app import doctor
from bot.app.settings import Settings
from bot.app.web import create_app
from storage.db import Database
from storage.models import Alert, AuditLog, InboxEvent, OutboxMessage, SupportRecord
from tests.line.conftest import SECRET as LINE_SECRET
from tests.line.fake_api import FakeLine, FakeLineServer
from tests.safety.test_linking import Both
from tests.slack import (
    test_alerts,
    test_commands,
    test_dm_checkin,
    test_records_surfaces,
    test_staff_message,
)
from tests.slack.conftest import CHANNEL, STAFF1, TEAM, Rig, staffed_facility
from tests.slack.fake_slack import FakeSlack, Served
from tests.slack.fake_socket import FakeSocket
from tests.slack.test_manifest import APP_TOKEN_METHODS, CALLED, expand
from tests.support import FakeClock, jst

APP_TOKEN = "xapp-1-A_NIPPO-1-test"


@dataclass
class SocketRig(Rig):
    """conftest's Rig, with every Slack request sent as a Socket Mode envelope."""

    socket: FakeSocket

    async def post(
        self,
        body: bytes,
        content_type: str,
        *,
        ts: str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        # Socket Mode carries no signature: `ts` and `signature` have nothing to sign.
        if content_type.startswith("application/json"):
            kind, payload = "events_api", json.loads(body)
        else:
            form = dict(parse_qsl(body.decode()))
            if "payload" in form:
                kind, payload = "interactive", json.loads(form["payload"])
            else:
                kind, payload = "slash_commands", form
        retry = (headers or {}).get("x-slack-retry-num")
        envelope_id = await self.socket.send(
            kind, payload, retry_attempt=int(retry) if retry else None
        )
        ack = await self.socket.ack(envelope_id)
        assert set(ack) <= {"envelope_id", "payload"}, ack
        if "payload" in ack:  # what bolt's HTTP answer would have carried in its body
            return httpx.Response(200, json=ack["payload"])
        return httpx.Response(200)


@asynccontextmanager
async def open_app(
    db: Database,
    db_url: str,
    clock: FakeClock,
    facility_id: int,
    line: FakeLine | None = None,
    team_id: str | None = None,
) -> AsyncIterator[SocketRig]:
    """The app as a facility without a public URL runs it: Slack over Socket Mode alone
    (no signing secret, no /slack/events), LINE (when given) on its webhook."""
    async with Served(FakeSlack()) as fake, FakeSocket() as socket:
        fake.socket_url = socket.url
        line_settings: dict[str, Any] = {}
        if line is not None:
            line_settings = {
                "line_channel_secret": SecretStr(LINE_SECRET),
                "line_channel_access_token": SecretStr("test-access-token"),
                "line_api_base_url": line.url,
                "line_data_api_base_url": line.url,
            }
        settings = Settings(
            database_url=db_url,
            slack_bot_token=SecretStr("xoxb-test"),
            slack_app_token=SecretStr(APP_TOKEN),
            slack_api_base_url=fake.url,
            slack_team_id=team_id,
            scheduler_enabled=False,  # the tests drive handling and delivery themselves
            **line_settings,
        )
        app = create_app(settings, db, clock)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://nippo.test") as http,
        ):
            await socket.connected()
            yield SocketRig(http, fake, db, clock, facility_id, app, socket)
        fake.check_limits()
        fake.check_spec()


@pytest.fixture
async def socket_rig(db: Database, db_url: str) -> AsyncIterator[SocketRig]:
    clock = FakeClock(jst("2026-07-01", "11:00"))
    facility_id = await staffed_facility(db, clock)
    async with open_app(db, db_url, clock, facility_id) as rig:
        yield rig


Scenario = Callable[[Rig], Awaitable[None]]

# Commands, buttons, modals (opened, answered with errors, submitted), App Home, a member's
# DM check-in with its buttons and a repeated press, an export upload: as over HTTP.
SCENARIOS: list[Scenario] = [
    test_commands.test_status_mine_shows_only_the_viewers_members,
    test_commands.test_week_link_alerts_and_help,
    test_commands.test_non_staff_are_refused_and_see_no_member_data,
    test_alerts.test_two_staff_press_take_at_once_one_wins_both_see_the_truth,
    test_alerts.test_done_opens_a_form_and_submitting_it_resolves_the_alert,
    test_alerts.test_an_empty_outcome_keeps_the_form_open,
    test_alerts.test_taking_from_nippo_alerts_updates_the_channel_message_and_app_home,
    test_alerts.test_staff_of_another_facility_and_strangers_cannot_act_on_an_alert,
    test_dm_checkin.test_a_member_links_and_checks_in_by_dm,
    test_dm_checkin.test_a_repeated_button_press_counts_once,
    test_dm_checkin.test_app_home_shows_the_board_to_staff_and_nothing_to_others,
    test_records_surfaces.test_log_keeps_a_support_record_by_the_calling_staff,
    test_records_surfaces.test_monthly_evaluation_modal_saves_the_sheet_and_shows_errors,
    test_records_surfaces.test_export_uploads_the_csv_to_the_managers_dm,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__.removeprefix("test_"))
async def test_the_http_scenario_runs_the_same_over_socket_mode(
    socket_rig: SocketRig, scenario: Scenario
) -> None:
    await scenario(socket_rig)
    await socket_rig.fake.settle(quiet=0.2)
    sent = [m["envelope_id"] for m in socket_rig.socket.received]
    assert sent and len(sent) == len(set(sent))  # each envelope acknowledged exactly once
    # Nippo reached Slack only through the Web API methods the manifest's scopes cover
    called = {c.method for c in socket_rig.fake.calls} - {"response_url"}
    assert called <= set(expand(CALLED)) | set(APP_TOKEN_METHODS), called


async def test_the_connection_uses_the_app_token_and_no_http_route(socket_rig: SocketRig) -> None:
    (opened,) = socket_rig.fake.of("apps.connections.open")
    assert opened.authorization == f"Bearer {APP_TOKEN}"
    assert socket_rig.socket.connections == 1
    # no public URL: Slack's HTTP route is not there at all
    refused = await socket_rig.http.post("/slack/events", content=b"{}")
    assert refused.status_code == 404
    assert (await socket_rig.http.get("/healthz")).json()["status"] == "ok"


async def test_a_button_over_the_socket_is_written_as_the_staff_who_pressed_it(
    socket_rig: SocketRig,
) -> None:
    alert_id = await test_alerts.raise_one(socket_rig)
    await test_alerts.deliver(socket_rig)
    async with socket_rig.db.transaction() as session:
        ts = (await session.get_one(Alert, alert_id)).slack_ts or ""
    pressed = test_alerts.press(STAFF1, "alert_take", str(alert_id), ts)
    envelope_id = await socket_rig.socket.send("interactive", pressed)
    assert (await socket_rig.socket.ack(envelope_id)) == {"envelope_id": envelope_id}
    (update,) = await socket_rig.fake.wait_for("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (CHANNEL, ts)
    await socket_rig.fake.settle()
    async with socket_rig.db.transaction() as session:
        alert = await session.get_one(Alert, alert_id)
        record = (await session.execute(select(SupportRecord))).scalar_one()
        actors = set(
            await session.scalars(select(AuditLog.actor).where(AuditLog.target.like("alert:%")))
        )
    assert alert.state == "acked" and record.staff_id == alert.acked_by == 1
    assert f"slack:{STAFF1}" in actors  # the audit log names who pressed, as over HTTP


async def test_unknown_and_garbled_envelopes_change_nothing(socket_rig: SocketRig) -> None:
    async def state() -> tuple[int, int, int]:
        return (
            await socket_rig.count(InboxEvent),
            await socket_rig.count(OutboxMessage),
            await socket_rig.count(AuditLog),
        )

    before = await state()
    unknown = [
        await socket_rig.socket.send("events_api", {"type": "event_callback", "team_id": TEAM,
                                                    "event": {"type": "reaction_added"}}),
        await socket_rig.socket.send("interactive", {"type": "no_such_kind"}),
        await socket_rig.socket.send("slash_commands", {"command": "/other", "text": "status"}),
        await socket_rig.socket.send("events_api", {}),
    ]  # fmt: skip
    for envelope_id in unknown:  # acknowledged, or Slack would send them again and again
        assert (await socket_rig.socket.ack(envelope_id)) == {"envelope_id": envelope_id}
    for text in ("not json", "[1, 2]", "{broken", '{"type": "events_api"}', "{" * 5000):
        await socket_rig.socket.raw(text)
    await socket_rig.fake.settle(quiet=0.3)
    assert await state() == before
    # nothing posted, opened or published (bolt checks its token with auth.test once)
    assert {c.method for c in socket_rig.fake.calls} <= {"apps.connections.open", "auth.test"}
    # the connection still works afterwards
    await socket_rig.command(STAFF1, "help")
    (answer,) = await socket_rig.fake.wait_for("chat.postEphemeral")
    assert "/nippo status" in answer.args["text"]


async def test_an_envelope_from_another_workspace_is_acknowledged_and_ignored(
    db: Database, db_url: str
) -> None:
    clock = FakeClock(jst("2026-07-01", "11:00"))
    facility_id = await staffed_facility(db, clock)
    async with open_app(db, db_url, clock, facility_id, team_id=TEAM) as rig:
        form = {"command": "/nippo", "text": "status", "user_id": STAFF1, "channel_id": "C1"}
        other = await rig.socket.send("slash_commands", {**form, "team_id": "T_OTHER"})
        assert (await rig.socket.ack(other)) == {"envelope_id": other}
        await rig.command(STAFF1, "help")  # conftest's, from TEAM
        await rig.fake.wait_for("chat.postEphemeral")
        await rig.fake.settle(quiet=0.2)
        assert len(rig.fake.of("chat.postEphemeral")) == 1


async def test_staff_answer_a_member_on_line_from_an_alert_over_socket_mode(
    db: Database, db_url: str
) -> None:
    """The facility without a public URL for Slack: LINE on its webhook, Slack over the
    socket; 「メッセージを送る」 → 文例 → send reaches the member on LINE and is recorded."""
    clock = FakeClock(jst(test_staff_message.DAY, "09:00"))
    facility_id = await staffed_facility(db, clock)
    scenario = (
        test_staff_message.test_a_message_from_an_alert_reaches_the_member_on_line_and_is_recorded
    )
    async with (
        FakeLineServer(FakeLine()) as line,
        open_app(db, db_url, clock, facility_id, line=line) as rig,
    ):
        await scenario(Both(rig, line, db, clock, facility_id))


async def test_closing_the_app_closes_the_connection() -> None:
    """Socket Mode stops with the app: the websocket closes, no reconnecting after."""
    async with FakeSocket() as socket, Served(FakeSlack()) as fake:
        fake.socket_url = socket.url
        bolt = AsyncApp(client=web_client("xoxb-test", fake.url), signing_secret="")
        service = SocketMode(bolt, APP_TOKEN)
        await service.start()
        await socket.connected()
        assert await service.connected()
        await service.aclose()
        assert not await service.connected()
        await asyncio.sleep(0.5)
        assert socket.connections == 1 and len(fake.of("apps.connections.open")) == 1


async def test_slack_out_of_reach_does_not_hold_up_the_app(db: Database, db_url: str) -> None:
    """apps.connections.open refused: the app starts and serves the rest, the client keeps
    trying in the background, and stopping the app does not wait for it."""
    async with Served(FakeSlack()) as fake:  # no socket_url: the fake refuses the token
        settings = Settings(
            database_url=db_url,
            slack_bot_token=SecretStr("xoxb-test"),
            slack_app_token=SecretStr(APP_TOKEN),
            slack_api_base_url=fake.url,
            scheduler_enabled=False,
        )
        app = create_app(settings, db, FakeClock(jst("2026-07-01", "11:00")))
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://nippo.test") as http,
        ):
            await fake.wait_for("apps.connections.open")
            assert (await http.get("/healthz")).json()["status"] == "ok"


async def test_the_doctor_checks_the_app_token_and_needs_no_signing_secret() -> None:
    async with Served(FakeSlack()) as fake:
        settings = Settings(
            slack_bot_token=SecretStr("xoxb-test"),
            slack_app_token=SecretStr(APP_TOKEN),
            slack_api_base_url=fake.url,
        )
        async with httpx.AsyncClient() as client:
            fake.socket_url = "wss://fake/link"
            good = await doctor.slack_checks(settings, client, [CHANNEL])
            fake.socket_url = ""  # Slack refuses the token
            bad = await doctor.slack_checks(settings, client, [CHANNEL])
            alone = settings.model_copy(update={"slack_bot_token": None})
            half = await doctor.slack_checks(alone, client, [])
    assert [doctor.render(c) for c in good] == [
        "✔ Slack トークン: 有効です（ワークスペース T111）",
        "✔ Slack 権限: 必要な権限がそろっています",
        f"✔ Slack チャンネル {CHANNEL}: ボットが参加しています",
        "✔ Slack ソケットモード: アプリレベルトークンで接続できます",
    ]
    assert bad[-1].ok is False and "SLACK_APP_TOKEN" in bad[-1].next_step_ja
    opened = fake.of("apps.connections.open")
    assert [c.authorization for c in opened] == [f"Bearer {APP_TOKEN}"] * 2
    assert [doctor.render(c) for c in half] == [
        "✘ Slack: SLACK_BOT_TOKEN が未設定のため、Slack は動きません → "
        ".env の SLACK_BOT_TOKEN に値を入れてください"
    ]
