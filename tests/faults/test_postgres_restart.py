"""PostgreSQL restarts under a running server: it recovers by itself, and nothing
acknowledged is lost.

Under load, PostgreSQL restarts while linked members' signed LINE webhooks stream at a real
`nippo serve`. Whatever got a 200 was committed before the answer and is handled by the same
process (never restarted) once PostgreSQL is back; what was refused during the outage got a
503 (or no answer), never a 200, and is handled once LINE redelivers it. Members who write
only after the restart get their replies from the server at once. A reply whose flush the
outage cut short waits out its 60 s lease, as after a crash; to keep the test short, that
last step runs here on a simulated clock.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.services import delivery
from storage.db import Database
from storage.models import InboxEvent, OutboxMessage
from tests.faults.server import Server
from tests.faults.webhooks import deliver_after_lease, link_members, post, server_env
from tests.line.conftest import event
from tests.line.fake_api import FakeLine, FakeLineThread

MEMBERS = 12  # writing all along
LATE = 4  # writing only once PostgreSQL is back
PAUSE_S = 0.05  # between one member's messages
BEFORE = 40  # acknowledged requests before the restart
AFTER = 40  # acknowledged requests sent once PostgreSQL is back


def _restart_postgres() -> None:
    version = sorted(Path("/etc/postgresql").iterdir())[0].name
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
        check=True,
        timeout=60,
    )


def _needs_a_postgres_to_restart(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("runs in the PostgreSQL pass")
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        pytest.skip("needs a local PostgreSQL cluster this test may restart")


def test_server_recovers_after_a_postgres_restart(db_url: str, tmp_path: Path) -> None:
    _needs_a_postgres_to_restart(db_url)
    server = Server({"DATABASE_URL": db_url}, tmp_path)
    server.start()
    try:
        _restart_postgres()
        # The same process answers healthy again once PostgreSQL is back: no restart of ours.
        deadline = time.monotonic() + 30
        codes = []
        while time.monotonic() < deadline:
            try:
                codes.append(httpx.get(f"{server.url}/healthz", timeout=3).status_code)
            except httpx.HTTPError:
                codes.append(0)
            if codes[-1] == 200:
                break
            time.sleep(0.3)
        assert codes[-1] == 200
        assert server.proc is not None and server.proc.poll() is None
    finally:
        server.stop()


async def _until(done: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while not done():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _rows(db: Database) -> tuple[dict[str, InboxEvent], dict[str, OutboxMessage]]:
    async with db.transaction() as s:
        inbox = (await s.scalars(select(InboxEvent))).all()
        outbox = (
            await s.scalars(select(OutboxMessage).where(OutboxMessage.key.startswith("reply:")))
        ).all()
    assert len({e.event_id for e in inbox}) == len(inbox)  # each event stored once
    return {e.event_id: e for e in inbox}, {o.key: o for o in outbox}


async def _handled(db: Database, events: set[str], within: float) -> bool:
    """Whether every event is done with its reply queued (polling up to `within` s)."""
    deadline = time.monotonic() + within
    while True:
        inbox, outbox = await _rows(db)
        if all(
            e in inbox and inbox[e].status == "done" and f"reply:line:{e}" in outbox for e in events
        ):
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.3)


async def test_restart_under_webhook_load_loses_nothing_acknowledged(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    _needs_a_postgres_to_restart(db_url)
    users = await link_members(db, datetime.now(UTC), "Upgrestart", MEMBERS + LATE)
    late = set(users[MEMBERS:])
    with FakeLineThread(FakeLine()) as fake:
        fake.quota_limit = None
        server = Server(server_env(db_url, fake.url), tmp_path)
        await asyncio.to_thread(server.start)
        assert server.proc is not None
        pid = server.proc.pid
        try:
            sent: dict[str, dict[str, Any]] = {}  # event id -> event, in sending order
            answers: dict[str, int | None] = {}
            after: set[str] = set()  # sent once PostgreSQL was back
            back, stop = asyncio.Event(), asyncio.Event()
            back_at: list[datetime] = []

            def acked(among: set[str] | None = None) -> int:
                return sum(
                    code == 200 for e, code in answers.items() if among is None or e in among
                )

            async def member(client: httpx.AsyncClient, user: str) -> None:
                if user in late:
                    await back.wait()
                n = 0
                while not stop.is_set():
                    text = f"こんにちは {n}"
                    ev = event(
                        "00_message_text", datetime.now(UTC), user=user, message={"text": text}
                    )
                    eid = ev["webhookEventId"]
                    sent[eid] = ev
                    if back.is_set():
                        after.add(eid)
                    answers[eid] = await post(client, server.url, ev)
                    n += 1
                    await asyncio.sleep(PAUSE_S)

            async def conductor() -> None:
                try:
                    assert await _until(lambda: acked() >= BEFORE, 20), "no load before"
                    await asyncio.to_thread(_restart_postgres)
                    back_at.append(datetime.now(UTC))
                    back.set()
                    await _until(lambda: acked(after) >= AFTER, 30)
                finally:
                    stop.set()

            async with httpx.AsyncClient(timeout=10) as client:
                await asyncio.gather(conductor(), *(member(client, u) for u in users))

            # The same process, never restarted, took requests again once PostgreSQL was back;
            # what it refused meanwhile got a 503 or no answer, never a 200.
            assert server.proc.poll() is None and server.proc.pid == pid
            assert acked(after) >= AFTER, Counter(answers[e] for e in after)
            assert set(answers.values()) <= {200, 503, None}, Counter(answers.values())
            ok = {e for e, code in answers.items() if code == 200}
            refused = {e for e, code in answers.items() if code != 200}

            # Everything acknowledged was committed before the 200 ...
            inbox, _ = await _rows(db)
            assert ok <= set(inbox), f"acknowledged but not stored: {ok - set(inbox)}"
            assert refused, "the restart must land mid-stream"
            # ... and the server handles it itself: the event done, its reply queued.
            assert await _handled(db, ok, 30), "acknowledged events left unhandled"

            # LINE redelivers what was refused; each is handled (once) too.
            async with httpx.AsyncClient(timeout=10) as client:
                for eid in sorted(refused, key=list(sent).index):
                    ev = sent[eid]
                    ev["deliveryContext"] = {"isRedelivery": True}
                    assert await post(client, server.url, ev) == 200, eid
            assert await _handled(db, set(sent), 30), "redelivered events left unhandled"

            # The server delivers the replies itself: all of them to members who wrote only
            # after the restart, and every other one except where a flush the outage cut
            # short left a member's reply leased: it waits out its lease, and that member's
            # later replies wait behind it.
            lease_limit = back_at[0] + delivery.LEASE

            def cut_short(o: OutboxMessage) -> bool:
                return o.status == "sending" and o.next_attempt_at < lease_limit

            deadline = time.monotonic() + 20
            while True:
                _, outbox = await _rows(db)
                held = {o.recipient for o in outbox.values() if cut_short(o)}
                waiting = [
                    o.key for o in outbox.values() if o.status != "sent" and o.recipient not in held
                ]
                if not waiting or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
            assert not waiting, f"the server did not deliver {waiting}"
            assert not held & set(late)
            late_rows = [o for o in outbox.values() if o.recipient in late]
            assert len(late_rows) >= LATE and {o.status for o in late_rows} == {"sent"}
            assert server.proc.poll() is None and server.proc.pid == pid
        finally:
            server.stop()

        # Deliver what the outage left leased, as the server does once the lease ends.
        _, outbox = await _rows(db)
        cut = {key for key, o in outbox.items() if cut_short(o)}
        assert cut == {key for key, o in outbox.items() if o.status == "sending"}
        await deliver_after_lease(db, fake.url)

        # Each event handled once; each reply shown once, or twice (a rare duplicate beats a
        # lost answer) when it reached LINE just as the outage cut its flush short.
        inbox, outbox = await _rows(db)
        assert set(inbox) == set(sent) and {e.status for e in inbox.values()} == {"done"}
        assert set(outbox) == {f"reply:line:{e}" for e in sent}
        assert {o.status for o in outbox.values()} == {"sent"}
        tokens = Counter(to for to, _ in fake.shown)
        shown = {
            f"reply:line:{e}": tokens[ev["replyToken"]]
            + (outbox[f"reply:line:{e}"].retry_key in fake.accepted_keys)
            for e, ev in sent.items()
        }
        twice = {key for key, n in shown.items() if n == 2}
        assert set(shown.values()) <= {1, 2} and twice <= cut, (Counter(shown.values()), cut)
