"""APScheduler 3 as a clock only (DESIGN §3, §10): a tick every minute and an outbox flush
every few seconds. No job holds state and there are no per-member jobs; all work is derived
from the database, so a missed or doubled run (or a second replica) changes nothing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.ports import Clock, Sender, system_clock
from bot.services import delivery, ticks
from bot.services.delivery import Flushed
from bot.services.inbox import InboxPass, SetAside, drain
from bot.services.metrics import REGISTRY
from bot.services.ticks import TickSummary
from storage import audit_chain
from storage.audit_chain import acting_as
from storage.db import Database

log = logging.getLogger(__name__)

# A late run still runs (once: coalesced); a tick is idempotent, so late is better than never.
MISFIRE_GRACE_SECONDS = 600
# The recovery pass drains too (a safety net: the after-ack worker is the drain), at most this
# many batches per platform and tick, so the minute's reminders are never held up for long.
RECOVERY_PASSES = 10


class Runner:
    """Owns one AsyncIOScheduler with two jobs: `tick` and `deliver`."""

    def __init__(
        self,
        db: Database,
        senders: Mapping[str, Sender],
        *,
        inbox_passes: Mapping[str, InboxPass] | None = None,
        clock: Clock = system_clock,
        deliver_seconds: float = 3.0,
        tick_trigger: CronTrigger | IntervalTrigger | None = None,
    ) -> None:
        self.db = db
        self.senders = senders
        self.inbox_passes = inbox_passes or {}
        self._running: set[asyncio.Task[object]] = set()
        self.clock = clock
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        common = {"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS}
        self.scheduler.add_job(
            self.tick,
            tick_trigger or CronTrigger(second=0, timezone=UTC),
            id="tick",
            next_run_time=system_clock(),  # catch up at once after a (re)start (scheduler time)
            **common,
        )
        self.scheduler.add_job(
            self.deliver,
            IntervalTrigger(seconds=deliver_seconds, timezone=UTC),
            id="deliver",
            **common,
        )

    def _track(self) -> None:
        """Remember the running job's task until it ends (see `aclose`)."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def start(self) -> None:
        """Start ticking; call from inside the running event loop (the app's lifespan)."""
        self.scheduler.start()
        log.info("scheduler started", extra={"platforms": sorted(self.senders)})

    async def aclose(self, grace_seconds: float = 30.0) -> None:
        """Stop starting jobs, let running ones finish, then shut down.

        APScheduler's own shutdown cancels running jobs; a job cancelled halfway through a
        database transaction leaves its connection to be torn down while the loop closes
        (seen as a hang with aiosqlite), so running jobs are waited for first.
        """
        if not self.scheduler.running:
            return
        self.scheduler.pause()
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace_seconds)
        self.scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler completes its shutdown on the loop

    async def tick(self) -> TickSummary | None:
        """The inbox recovery passes, then the reminders and escalations, then the audit
        rows a busy minute left unsealed. Each part runs on its own: a failing pass (one
        platform's) never skips the others or the tick."""
        started = time.perf_counter()
        self._track()
        try:
            with acting_as("bot"):
                return await self._tick_parts()
        finally:
            REGISTRY.observe("nippo_tick_duration_seconds", time.perf_counter() - started)

    async def _tick_parts(self) -> TickSummary | None:
        # Events acknowledged by a process that died before handling them come first
        # (an absence notice waiting there stops the day's reminders).
        for platform, process in self.inbox_passes.items():
            await self._recover(platform, process)
        summary = None
        try:
            summary = await ticks.tick(self.db, self.clock())
        except Exception as exc:  # the next minute catches up; a crash must not stop the clock
            log.error("tick failed", extra={"error_type": type(exc).__name__})
            log.debug("tick failed", exc_info=exc)
        await self._seal()
        return summary

    async def _seal(self) -> None:
        """Seal audit rows committed while another transaction held the chain (PostgreSQL):
        so no entry stays unsealed much longer than a minute."""
        try:
            await audit_chain.seal_pending(self.db)
        except Exception as exc:  # retried next minute; the rows wait, unsealed, meanwhile
            log.error("audit sealing failed", extra={"error_type": type(exc).__name__})
            log.debug("audit sealing failed", exc_info=exc)

    async def _recover(self, platform: str, process: InboxPass) -> None:
        async def one(aside: SetAside) -> int:
            return await process(self.clock(), None, aside=aside)

        try:
            handled = await drain(one, passes=RECOVERY_PASSES)
        except Exception as exc:  # logged with ids only; the tick goes on regardless
            log.error(
                "inbox recovery pass failed",
                extra={"platform": platform, "error_type": type(exc).__name__},
            )
            log.debug("inbox recovery pass failed", exc_info=exc, extra={"platform": platform})
            return
        if handled:
            log.info("inbox recovered", extra={"platform": platform, "events": handled})

    async def deliver(self) -> Flushed | None:
        if not self.senders:
            return None
        self._track()
        try:
            with acting_as("bot"):
                return await delivery.flush(self.db, self.senders, self.clock())
        except Exception:
            log.exception("delivery failed")
            return None
