"""/healthz and /metrics on the real app and database."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.app import logs
from bot.app.logs import JsonFormatter
from bot.app.settings import Settings
from bot.app.web import create_app
from bot.services.metrics import REGISTRY
from storage.db import Database
from tests.faults.server import Server
from tests.support import Chat, jst, make_facility, make_member


def _client(db: Database) -> httpx.AsyncClient:
    app = create_app(Settings(database_url=db.url), db)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://nippo")


async def test_healthz_reports_the_database(db: Database) -> None:
    async with _client(db) as client:
        r = await client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "up"}


async def test_healthz_says_503_when_the_database_is_gone() -> None:
    broken = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    async with _client(broken) as client:
        r = await client.get("/healthz")
    await broken.dispose()
    assert r.status_code == 503 and r.json()["database"] == "down"


async def test_healthz_says_503_when_the_database_takes_no_writes(
    db: Database, db_url: str
) -> None:
    """A full disk or a read-only file still answers reads: /healthz writes to find out."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        read_only = Database(f"sqlite:///file:{url.database}?mode=ro&uri=true")
    else:
        async with db.engine.connect() as conn:
            await conn.execute(
                text(f'ALTER DATABASE "{url.database}" SET default_transaction_read_only = on')
            )
            await conn.commit()
        read_only = Database(db_url)
    try:
        async with _client(read_only) as client:
            r = await client.get("/healthz")
    finally:
        await read_only.dispose()
    assert r.status_code == 503 and r.json() == {"status": "unavailable", "database": "read_only"}


async def test_operator_endpoints_can_want_a_token_or_a_network(db: Database) -> None:
    def client(**kw: str) -> httpx.AsyncClient:
        app = create_app(Settings(database_url=db.url, **kw), db)  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://nippo")

    async with client(operator_token="s3cret") as c:
        assert (await c.get("/metrics")).status_code == 401
        assert (await c.get("/openapi.json")).status_code == 401
        wrong = {"authorization": "Bearer nope"}
        assert (await c.get("/metrics", headers=wrong)).status_code == 401
        right = {"authorization": "Bearer s3cret"}
        assert (await c.get("/metrics", headers=right)).status_code == 200
        assert (await c.get("/openapi.json", headers=right)).json()["info"]["title"] == "Nippo"
        assert (await c.get("/healthz")).status_code == 200  # load balancers need no token
    async with client(operator_networks="10.0.0.0/8") as c:  # the test client is 127.0.0.1
        assert (await c.get("/metrics")).status_code == 403
    async with client(operator_networks="10.0.0.0/8, 127.0.0.0/8") as c:
        assert (await c.get("/metrics")).status_code == 200


async def test_metrics_show_outbox_and_alerts(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0, alert_channel="C1")
    mid = await make_member(db, fid, t0)
    chat = Chat(db)
    await chat.link("u1", mid, t0)
    await chat.send("u1", jst("2026-07-01", "10:00"), text="開始 体調1 睡眠7 データ入力")
    REGISTRY.inc("nippo_webhooks_received_total", platform="line")
    async with _client(db) as client:
        body = (await client.get("/metrics")).text
    assert 'nippo_outbox_messages{status="pending"} 2' in body  # the reply and the staff alert
    assert 'nippo_alerts_open{state="open"} 1' in body
    assert "nippo_inbox_pending 0" in body
    assert 'nippo_webhooks_received_total{platform="line"}' in body
    assert "# TYPE nippo_outbox_messages gauge" in body


def test_json_logs_keep_ids_and_drop_nothing_else() -> None:
    record = logging.makeLogRecord(
        {
            "name": "bot.services.checkin",
            "levelname": "INFO",
            "msg": "account linked",
            "identity_id": 7,
        }
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "account linked" and line["identity_id"] == 7 and line["level"] == "info"


def test_logs_leave_out_apschedulers_per_run_chatter(capsys: pytest.CaptureFixture[str]) -> None:
    """Every delivery pass (every 3 s) would log two INFO lines from APScheduler; operators
    see our own INFO lines and APScheduler's warnings only."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("apscheduler").level
    try:
        logs.configure("INFO", "text")
        logging.getLogger("apscheduler.executors.default").info('Running job "deliver"')
        logging.getLogger("apscheduler.scheduler").warning("Run time of job was missed")
        logging.getLogger("bot.services.checkin").info("account linked")
    finally:
        root.handlers[:], _, _ = saved
        root.setLevel(saved[1])
        logging.getLogger("apscheduler").setLevel(saved[2])
    err = capsys.readouterr().err
    assert "account linked" in err and "Run time of job was missed" in err
    assert "Running job" not in err


@pytest.mark.slow
def test_serve_logs_failed_requests_not_each_success(tmp_path: Path) -> None:
    """`nippo serve`'s access lines: what failed shows, with the app's reason beside it; each
    health check and webhook that succeeded does not (the inbox keeps every event)."""
    server = Server(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
            "LINE_CHANNEL_SECRET": "s3cret",
            "LINE_CHANNEL_ACCESS_TOKEN": "token",
            "LINE_API_BASE_URL": "http://127.0.0.1:9",  # never called here
        },
        tmp_path,
    )
    server.start()
    try:
        for _ in range(3):
            assert httpx.get(f"{server.url}/healthz").status_code == 200
        forged = httpx.post(
            f"{server.url}/callback/line",
            content=b'{"destination":"U1","events":[]}',
            headers={"X-Line-Signature": "Zm9yZ2Vk"},
        )
        assert forged.status_code == 400
        assert httpx.get(f"{server.url}/nowhere").status_code == 404
    finally:
        server.stop()
    lines = [
        json.loads(x) for x in (tmp_path / f"serve-{server.port}.log").read_text().splitlines()
    ]
    access = [x["msg"] for x in lines if x["logger"] == "uvicorn.access"]
    assert len(access) == 2
    assert '"POST /callback/line HTTP/1.1" 400' in access[0]
    assert '"GET /nowhere HTTP/1.1" 404' in access[1]
    assert any(x["msg"] == "LINE webhook refused: bad signature" for x in lines)
    assert not any("color_message" in x for x in lines)
