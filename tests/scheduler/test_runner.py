"""The APScheduler clock: it ticks at once on start (catch-up), keeps ticking, and flushes the
outbox through the senders; the web app starts and stops it with its lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from apscheduler.triggers.interval import IntervalTrigger

from bot.app.settings import Settings
from bot.app.web import create_app
from scheduler.runner import Runner
from storage.db import Database
from tests.support import Chat, Recorder, jst, make_facility, make_member


async def _poll(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """A tiny poll: the scheduler runs on its own; wait until it has done something."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if check():
            return
        await asyncio.sleep(0.02)


async def test_runner_ticks_and_delivers_on_its_own(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0, alert_channel="C1")
    mid = await make_member(db, fid, t0)
    await Chat(db).link("u1", mid, t0)
    recorder = Recorder()
    now = jst("2026-07-01", "10:31")
    runner = Runner(
        db,
        {"console": recorder, "slack": recorder},
        clock=lambda: now,
        deliver_seconds=0.05,
        tick_trigger=IntervalTrigger(seconds=0.05),
    )
    runner.start()
    try:
        await _poll(lambda: len([i for i in recorder.items if not i.key.startswith("reply")]) >= 2)
    finally:
        await runner.aclose()
    keys = [i.key for i in recorder.items if not i.key.startswith("reply:")]
    # Many ticks ran at the same instant; each effect went out once.
    assert keys == [
        f"remind:start:{mid}:2026-07-01:2",
        f"notify:alert:missed-start:{mid}:2026-07-01:staff",
    ]
    job = runner.scheduler.get_job("tick")
    assert job is None or (job.coalesce and job.max_instances == 1)


async def test_the_app_lifespan_starts_and_stops_the_scheduler(db: Database) -> None:
    app = create_app(Settings(database_url=db.url), db)
    async with app.router.lifespan_context(app):
        runner = app.state.runner
        assert runner is not None and runner.scheduler.running
        assert {j.id for j in runner.scheduler.get_jobs()} == {"tick", "deliver"}
    assert not runner.scheduler.running
    off = create_app(Settings(database_url=db.url, scheduler_enabled=False), db)
    async with off.router.lifespan_context(off):
        assert off.state.runner is None
