"""Answer benchmark (issue #18): how fast members hear back, against a real `nippo serve`.

    .venv/bin/python bench/answer.py [--requests 3000] [--concurrency 50] [--rounds 2]
                                     [--database URL]   # postgresql://…: an empty database
    .venv/bin/python bench/answer.py --burst 5000 --scale 0.1 [--database URL]
                                     [--replicas N]     # N `nippo serve`, PostgreSQL only

Steady mode: signed single-event text webhooks from 200 linked members at a fixed
concurrency, against (1) `nippo serve` itself (a child process, LINE configured against a
local fake LINE API, the scheduler on) and (2) a minimal batched handler written here (the
floor: verify, store, then per batch read the member's state, update the report row, insert a
support record and an outbox row in one transaction, and send the replies concurrently), in
alternating rounds. For each it prints acknowledged/s (load phase), answered/s (a reply or a
push reached the fake LINE API; first webhook sent → last answer received), the time to drain
after the load, the answer latency p50/p95/p99 (webhook sent → answer received by the fake),
the server's CPU per answered event and the push fraction with why; then Nippo's ratio to
the floor.

Burst mode (a hosted installation's morning): N linked members across facilities of 50, each
doing a tap-based start check-in (開始します, 体調, 睡眠 as postbacks, then the work as text),
taps 3–15 s apart, first taps spread over 5 minutes. `--scale` shrinks the members and the
window together (0.1: N/10 members over 30 s), which keeps the taps per second — the load —
of the full morning, so it runs in minutes here; gaps between taps stay 3–15 s. Nippo only;
`--replicas N` starts N `nippo serve` on one PostgreSQL database and sends the webhooks to
them in turn, as a load balancer would (CPU is then the sum of the N processes).

`BENCH_PROFILE=/tmp/x.prof` runs Nippo under cProfile (bench/ingest.py's set-up). Loopback
only, bounded; prints figures and never fails on speed. `RESULT answer …` lines feed
bench/compare.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from fastapi import Request, Response  # module level: FastAPI resolves annotations here
from ingest import (
    SECRET,
    TEXTS,
    cpu_seconds,
    free_port,
    healthy_app,
    sign,
    stop,
    wait_ready,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MEMBERS = 200
PER_FACILITY = 50
BURST_WINDOW_S = 300.0
GAP_S = (3.0, 15.0)
STALL_S = 60.0  # no new answer for this long after the load: stop waiting, report the rest
SEND_AT_ONCE = 16  # the floor's concurrent replies


# --- the floor: a minimal batched handler (child process) ----------------------------------


def serve_floor(port: int, url: str, line_url: str) -> None:
    import uvicorn
    from linebot.v3.webhook import WebhookParser
    from sqlalchemy import (
        Column,
        DateTime,
        Integer,
        MetaData,
        String,
        Table,
        Text,
        insert,
        select,
        update,
    )
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    from sqlalchemy.ext.asyncio import create_async_engine

    from storage.db import _tune_sqlite, async_url, is_sqlite

    meta = MetaData()
    inbox = Table(
        "floor_inbox",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("user_id", String, nullable=False),
        Column("token", String, nullable=False),
        Column("text", Text, nullable=False),
        Column("status", String, nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False),
    )
    state = Table(
        "floor_state",
        meta,
        Column("user_id", String, primary_key=True),
        Column("step", Integer, nullable=False),
    )
    report = Table(
        "floor_report",
        meta,
        Column("user_id", String, primary_key=True),
        Column("day", String, primary_key=True),
        Column("last_text", Text, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    support = Table(
        "floor_support",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("user_id", String, nullable=False),
        Column("note", Text, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
    )
    outbox = Table(
        "floor_outbox",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("user_id", String, nullable=False),
        Column("token", String, nullable=False),
        Column("text", Text, nullable=False),
        Column("status", String, nullable=False),
    )
    sqlite = is_sqlite(url)
    engine = create_async_engine(async_url(url), pool_size=10, max_overflow=10)
    if sqlite:
        _tune_sqlite(engine.sync_engine)
    upsert = sqlite_insert if sqlite else pg_insert
    parser = WebhookParser(SECRET)
    poked = asyncio.Event()
    app = healthy_app()
    http: dict[str, aiohttp.ClientSession] = {}

    @app.on_event("startup")
    async def startup() -> None:
        async with engine.begin() as conn:
            await conn.run_sync(meta.create_all)
        http["line"] = aiohttp.ClientSession()
        asyncio.get_running_loop().create_task(worker())

    @app.post("/callback/line")
    async def callback(request: Request) -> Response:
        body = (await request.body()).decode()
        if not parser.signature_validator.validate(body, request.headers["x-line-signature"]):
            return Response(status_code=400)
        now = datetime.now(UTC)
        rows = [
            {
                "user_id": e["source"]["userId"],
                "token": e["replyToken"],
                "text": e["message"].get("text", "") if "message" in e else e["postback"]["data"],
                "status": "pending",
                "received_at": now,
            }
            for e in json.loads(body)["events"]
        ]
        async with engine.begin() as conn:
            await conn.execute(insert(inbox), rows)
        poked.set()
        return Response(status_code=200)

    async def worker() -> None:
        while True:
            await poked.wait()
            poked.clear()
            while await one_batch():
                pass

    async def one_batch() -> int:
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            claim = (
                select(inbox.c.id, inbox.c.user_id, inbox.c.token, inbox.c.text)
                .where(inbox.c.status == "pending")
                .order_by(inbox.c.id)
                .limit(100)
            )
            if not sqlite:
                claim = claim.with_for_update(skip_locked=True)
            events = (await conn.execute(claim)).all()
            if not events:
                return 0
            users = sorted({e.user_id for e in events})
            steps = dict(
                (
                    await conn.execute(
                        select(state.c.user_id, state.c.step).where(state.c.user_id.in_(users))
                    )
                ).all()
            )
            replies = []
            for e in events:
                steps[e.user_id] = steps.get(e.user_id, 0) + 1
                replies.append({"user_id": e.user_id, "token": e.token, "status": "pending",
                                "text": f"記録しました({steps[e.user_id]})"})  # fmt: skip
            st = upsert(state)
            await conn.execute(
                st.on_conflict_do_update(
                    index_elements=["user_id"], set_={"step": st.excluded.step}
                ),
                [{"user_id": u, "step": s} for u, s in steps.items()],
            )
            rp = upsert(report)
            await conn.execute(
                rp.on_conflict_do_update(
                    index_elements=["user_id", "day"],
                    set_={"last_text": rp.excluded.last_text, "updated_at": rp.excluded.updated_at},
                ),
                [
                    {
                        "user_id": e.user_id,
                        "day": now.date().isoformat(),
                        "last_text": e.text,
                        "updated_at": now,
                    }
                    for e in {e.user_id: e for e in events}.values()
                ],
            )
            await conn.execute(
                insert(support), [{"user_id": e.user_id, "note": e.text, "at": now} for e in events]
            )
            await conn.execute(insert(outbox), replies)
            await conn.execute(
                update(inbox).where(inbox.c.id.in_([e.id for e in events])).values(status="done")
            )
        slots = asyncio.Semaphore(SEND_AT_ONCE)

        async def send(reply: dict[str, Any]) -> None:
            async with slots:
                payload = {
                    "replyToken": reply["token"],
                    "messages": [{"type": "text", "text": reply["text"]}],
                }
                headers = {"Authorization": "Bearer floor"}
                async with http["line"].post(
                    f"{line_url}/v2/bot/message/reply", json=payload, headers=headers
                ) as r:
                    await r.read()

        await asyncio.gather(*(send(r) for r in replies))
        async with engine.begin() as conn:
            tokens = [r["token"] for r in replies]
            await conn.execute(
                update(outbox).where(outbox.c.token.in_(tokens)).values(status="sent")
            )
        return len(events)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- the fake LINE API, with the instant each answer arrived ---------------------------------


def stamped_fake() -> Any:
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import Response as StarletteResponse

    from tests.line.fake_api import FakeLine

    class StampedLine(FakeLine):
        def __init__(self) -> None:
            super().__init__()
            self.quota_limit = None
            self.replied: dict[str, float] = {}
            self.pushed: dict[str, list[float]] = {}

        async def reply(self, request: StarletteRequest) -> StarletteResponse:
            answer = await super().reply(request)
            if answer.status_code == 200:
                self.replied[json.loads(await request.body())["replyToken"]] = time.perf_counter()
            return answer

        async def push(self, request: StarletteRequest) -> StarletteResponse:
            answer = await super().push(request)
            if answer.status_code == 200:
                to = json.loads(await request.body())["to"]
                self.pushed.setdefault(to, []).append(time.perf_counter())
            return answer

    return StampedLine()


# --- set-up ------------------------------------------------------------------------------------


async def seed(url: str, members: int, tag: str) -> list[str]:
    """Facilities of PER_FACILITY linked members with 在宅 planned every day (a member
    without a plan would take the rarer unplanned-day path and alert staff); their LINE
    user ids. The planned start lies after the run, so the scheduler's reminders and
    missed-start alerts stay out of the figures at whatever hour the benchmark runs."""
    from bot.core.domain import DayMode
    from bot.services import admin
    from storage.db import Database
    from storage.models import Identity, Schedule

    db = Database(url)
    now = datetime.now(UTC)
    local = now.astimezone(ZoneInfo("Asia/Tokyo"))
    start = min(local + timedelta(minutes=30), local.replace(hour=23, minute=0)).time()
    start, end = start.replace(second=0, microsecond=0), dtime(23, 59)
    zaitaku = DayMode.ZAITAKU.value
    users: list[str] = []
    try:
        for first in range(0, members, PER_FACILITY):
            async with db.transaction() as s:
                facility = await admin.init_facility(s, name=f"bench {tag} {first}", now=now)
                for i in range(first, min(members, first + PER_FACILITY)):
                    m = await admin.add_member(s, facility, name=f"利用者 {i}", now=now)
                    user = f"U{tag}{i:06d}".ljust(33, "0")
                    identity = Identity(platform="line", platform_user_id=user, member_id=m.id,
                                        active=True, link_failures=0, created_at=now)  # fmt: skip
                    identity.linked_at = now
                    s.add(identity)
                    s.add_all(
                        Schedule(member_id=m.id, weekday=d, mode=zaitaku, start=start, end=end)
                        for d in range(7)
                    )
                    users.append(user)
    finally:
        await db.dispose()
    return users


@dataclass
class Sent:
    user: str
    token: str
    body: bytes
    at: float = 0.0  # perf_counter when the webhook left
    acked: float = 0.0


def text_event(user: str, token: str, text: str, eid: str) -> dict[str, Any]:
    return {
        "type": "message",
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user},
        "webhookEventId": eid,
        "deliveryContext": {"isRedelivery": False},
        "replyToken": token,
        "message": {"id": eid[-12:], "type": "text", "quoteToken": "q", "text": text},
    }


def postback_event(user: str, token: str, data: str, eid: str) -> dict[str, Any]:
    return {
        "type": "postback",
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user},
        "webhookEventId": eid,
        "deliveryContext": {"isRedelivery": False},
        "replyToken": token,
        "postback": {"data": data},
    }


def wrap(ev: dict[str, Any]) -> bytes:
    ev["timestamp"] = int(time.time() * 1000)  # as LINE stamps it, when it is sent
    return json.dumps({"destination": "Ubot", "events": [ev]}).encode()


async def post(session: aiohttp.ClientSession, port: int, sent: Sent, ev: dict[str, Any]) -> bool:
    sent.body = wrap(ev)
    headers = {"X-Line-Signature": sign(sent.body), "Content-Type": "application/json"}
    sent.at = time.perf_counter()
    url = f"http://127.0.0.1:{port}/callback/line"

    async def send() -> bool:
        async with session.post(url, data=sent.body, headers=headers) as r:
            await r.read()
            sent.acked = time.perf_counter()
            return r.status == 200

    try:
        return await send()
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
        # A pooled connection uvicorn closed after its 5 s keep-alive just as it was reused
        # (taps are 3–15 s apart): sent again, as LINE redelivers; the event id is the same,
        # so Nippo would ignore a copy it had already stored.
        return await send()


# --- measuring ---------------------------------------------------------------------------------


def _percentile_ms(seconds: list[float], pct: int) -> float:
    if len(seconds) < 2:
        return float("nan")
    return statistics.quantiles(sorted(seconds), n=100)[pct - 1] * 1000


@dataclass
class Run:
    app: str
    sent: list[Sent]
    load_s: float
    errors: int
    answered_at: dict[int, float] = field(default_factory=dict)  # index in `sent` → instant
    cpu_s: float | None = None
    push_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def ack_eps(self) -> float:
        return len(self.sent) / self.load_s

    @property
    def load_end(self) -> float:
        return max(s.acked for s in self.sent)

    @property
    def answered_eps(self) -> float:
        if not self.answered_at:
            return 0.0
        span = max(self.answered_at.values()) - min(s.at for s in self.sent)
        return len(self.answered_at) / span

    @property
    def drain_s(self) -> float:
        return max(0.0, max(self.answered_at.values(), default=0.0) - self.load_end)

    def latency_ms(self, pct: int) -> float:
        waits = [self.answered_at[i] - self.sent[i].at for i in self.answered_at]
        return _percentile_ms(waits, pct)

    def ack_ms(self, pct: int) -> float:
        """Webhook sent → its 200 received: what the platform waits for."""
        return _percentile_ms([s.acked - s.at for s in self.sent if s.acked], pct)

    @property
    def pushes(self) -> int:
        return sum(self.push_reasons.values())


def collect(fake: Any, sent: list[Sent], answered: dict[int, float]) -> None:
    """Which events have their answer at the fake: by reply token, else the user's pushes in
    order (a push says only whom it is for)."""
    used: dict[str, int] = {}
    for i, s in enumerate(sent):
        if i in answered:
            continue
        if s.token in fake.replied:
            answered[i] = fake.replied[s.token]
    for i, s in enumerate(sent):
        if i in answered:
            continue
        pushes = fake.pushed.get(s.user, [])
        n = used.get(s.user, 0)
        if n < len(pushes):
            answered[i] = pushes[n]
            used[s.user] = n + 1


async def wait_answered(fake: Any, run: Run, at_most: float) -> None:
    until = time.perf_counter() + at_most
    last_progress, last_count = time.perf_counter(), -1
    while time.perf_counter() < until:
        fresh: dict[int, float] = {}
        collect(fake, run.sent, fresh)
        run.answered_at = fresh
        if len(fresh) == len(run.sent):
            return
        if len(fresh) != last_count:
            last_progress, last_count = time.perf_counter(), len(fresh)
        elif time.perf_counter() - last_progress > STALL_S:
            return
        await asyncio.sleep(0.1)


async def push_reasons(url: str, tokens: set[str]) -> dict[str, int]:
    """Why Nippo's answers to these events went out as pushes (its outbox rows)."""
    from sqlalchemy import select

    from storage.db import Database
    from storage.models import InboxEvent, OutboxMessage

    db = Database(url)
    reasons: dict[str, int] = {}
    try:
        async with db.transaction() as s:
            rows = (
                await s.execute(
                    select(OutboxMessage, InboxEvent.body)
                    .join(InboxEvent, OutboxMessage.key == "reply:line:" + InboxEvent.event_id)
                    .where(OutboxMessage.via == "push")
                )
            ).all()
        for row, body in rows:
            if body.get("replyToken") not in tokens:
                continue
            if row.attempts > 1:
                why = "a reply attempt failed; retried as a push"
            elif row.reply_token_until is None:
                why = "no reply token"
            elif row.sent_at is not None and row.sent_at >= row.reply_token_until:
                why = "reply token expired (answered > 50 s after the message)"
            else:
                why = "reply token refused"
            reasons[why] = reasons.get(why, 0) + 1
    finally:
        await db.dispose()
    return reasons


async def steady(port: int, pid: int, sent_events: list[tuple[Sent, dict[str, Any]]],
                 concurrency: int) -> tuple[float, int, float | None]:  # fmt: skip
    queue = list(reversed(sent_events))
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

        async def worker() -> None:
            nonlocal errors
            while queue:
                sent, ev = queue.pop()
                errors += not await post(s, port, sent, ev)

        t0, cpu0 = time.perf_counter(), cpu_seconds(pid)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, errors, cpu0


def steady_events(users: list[str], n: int, tag: str) -> list[tuple[Sent, dict[str, Any]]]:
    out = []
    for i in range(n):
        user = users[i % len(users)]
        token = f"tok-{tag}-{i}"
        text = TEXTS[(i // len(users)) % len(TEXTS)]
        out.append((Sent(user, token, b""), text_event(user, token, text, f"01ANS{tag}{i:012d}")))
    return out


def start_server(kind: str, port: int, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    if kind == "nippo" and os.environ.get("BENCH_PROFILE"):  # cProfile, dumped at the end
        cmd = [sys.executable, str(ROOT / "bench" / "ingest.py"), "--serve", "nippo"]
        cmd += ["--port", str(port)]
    elif kind == "nippo":
        cmd = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
    else:
        cmd = [sys.executable, __file__, "--serve-floor", "--port", str(port)]
    with (logs / f"{kind}.log").open("ab") as out:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out)


def report(run: Run, backend: str, mode: str) -> None:
    cpu = "n/a" if run.cpu_s is None or not run.answered_at else (
        f"{run.cpu_s * 1000 / len(run.answered_at):.1f}")  # fmt: skip
    n, answered = len(run.sent), len(run.answered_at)
    push_pct = 100.0 * run.pushes / answered if answered else 0.0
    print(
        f"{run.app:<7}{run.ack_eps:>9.0f}{run.answered_eps:>11.1f}{answered:>7}/{n:<7}"
        f"{run.drain_s:>8.1f}{run.latency_ms(50):>9.0f}{run.latency_ms(95):>9.0f}"
        f"{run.latency_ms(99):>9.0f}{cpu:>10}{push_pct:>8.1f}%{run.ack_ms(99):>10.0f}"
    )
    for why, count in sorted(run.push_reasons.items()):
        print(f"         push: {count} × {why}")
    print(
        f"RESULT answer {backend} {mode} {run.app} ack_eps={run.ack_eps:.1f} "
        f"answered_eps={run.answered_eps:.1f} answered={answered} sent={n} "
        f"drain_s={run.drain_s:.2f} p50_ms={run.latency_ms(50):.0f} "
        f"p95_ms={run.latency_ms(95):.0f} p99_ms={run.latency_ms(99):.0f} "
        f"push_pct={push_pct:.1f} ack_p99_ms={run.ack_ms(99):.0f}"
    )


HEADER = (
    f"{'app':<7}{'acked/s':>9}{'answered/s':>11}{'answered':>15}{'drain s':>8}"
    f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'CPU ms/ev':>10}{'pushed':>9}{'ack p99':>10}"
)


async def main_steady(args: argparse.Namespace, env: dict[str, str], fake: Any) -> None:
    users = await seed(args.url, MEMBERS, "s")
    servers = {}
    for kind in ("nippo", "floor"):
        port = free_port()
        servers[kind] = (port, start_server(kind, port, env, args.logs))
    runs: dict[str, list[Run]] = {"nippo": [], "floor": []}
    try:
        for port, _ in servers.values():
            await wait_ready(port)
        for n in range(args.rounds + 1):  # round 0 warms both up and is not counted
            order = ("nippo", "floor") if n % 2 == 0 else ("floor", "nippo")
            for kind in order:
                port, proc = servers[kind]
                count = 100 if n == 0 else args.requests
                events = steady_events(users, count, f"{kind[0]}{n}")
                load_s, errors, cpu0 = await steady(port, proc.pid, events, args.concurrency)
                run = Run(kind, [s for s, _ in events], load_s, errors)
                await wait_answered(fake, run, args.wait)
                cpu1 = cpu_seconds(proc.pid)
                run.cpu_s = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
                if kind == "nippo":
                    run.push_reasons = await push_reasons(args.url, {s.token for s in run.sent})
                if n > 0:
                    runs[kind].append(run)
    finally:
        for _, proc in servers.values():
            stop(proc, 60)
    backend = "postgresql" if args.url.startswith("postgres") else "sqlite"
    print(
        f"\nAnswers, {args.rounds} rounds of {args.requests} signed text webhooks from "
        f"{MEMBERS} members, concurrency {args.concurrency}, backend {backend}"
    )
    print(HEADER)
    for kind in ("nippo", "floor"):
        for run in runs[kind]:
            report(run, backend, "steady")
    ratio = [
        a.answered_eps / b.answered_eps if b.answered_eps else float("nan")
        for a, b in zip(runs["nippo"], runs["floor"], strict=True)
    ]
    med = statistics.median(r.answered_eps for r in runs["nippo"])
    floor_med = statistics.median(r.answered_eps for r in runs["floor"])
    ack_med = statistics.median(r.ack_eps for r in runs["nippo"])
    print(
        f"nippo/floor answered/s: {med / floor_med:.2f} (medians; per round "
        + ", ".join(f"{x:.2f}" for x in ratio)
        + f"); nippo answered/acknowledged: {med / ack_med:.2f}"
    )
    print(
        f"RESULT answer {backend} ratio nippo_floor={med / floor_med:.3f} "
        f"answered_acked={med / ack_med:.3f}"
    )


def burst_plan(users: list[str], window: float, seed_: int) -> list[list[tuple[float, str, str]]]:
    """Per member, their four taps: (seconds from the start, kind, value)."""
    rng = random.Random(seed_)
    day = datetime.now(ZoneInfo("Asia/Tokyo")).date().isoformat()
    taps = [("postback", f"v1|{day}|start"), ("postback", f"v1|{day}|health:4"),
            ("postback", f"v1|{day}|sleep:7"), ("text", "データ入力")]  # fmt: skip
    plans = []
    for _ in users:
        at = rng.uniform(0, window)
        plan = []
        for kind, value in taps:
            plan.append((at, kind, value))
            at += rng.uniform(*GAP_S)
        plans.append(plan)
    return plans


async def main_burst(args: argparse.Namespace, env: dict[str, str], fake: Any) -> None:
    members = max(1, round(args.burst * args.scale))
    window = BURST_WINDOW_S * args.scale
    t_seed = time.perf_counter()
    users = await seed(args.url, members, "b")
    print(f"seeded {members} members in {time.perf_counter() - t_seed:.0f} s", file=sys.stderr)
    ports = [free_port() for _ in range(args.replicas)]
    procs = [start_server("nippo", port, env, args.logs) for port in ports]
    sent: list[Sent] = []
    errors = 0

    def cpu() -> float | None:
        each = [c for c in (cpu_seconds(p.pid) for p in procs) if c is not None]
        return sum(each) if len(each) == len(procs) else None

    try:
        for port in ports:
            await wait_ready(port)
        plans = burst_plan(users, window, 18)
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            t0, cpu0 = time.perf_counter(), cpu()

            async def member(m: int, user: str, plan: list[tuple[float, str, str]]) -> None:
                nonlocal errors
                for n, (at, kind, value) in enumerate(plan):
                    await asyncio.sleep(max(0.0, t0 + at - time.perf_counter()))
                    token = f"tok-b-{user}-{n}"
                    eid = f"01BURST{m:07d}{n:02d}"
                    ev = (postback_event if kind == "postback" else text_event)(
                        user, token, value, eid
                    )
                    s = Sent(user, token, b"")
                    sent.append(s)
                    port = ports[(m + n) % len(ports)]  # a load balancer's round robin
                    errors += not await post(session, port, s, ev)

            await asyncio.gather(
                *(member(m, u, p) for m, (u, p) in enumerate(zip(users, plans, strict=True)))
            )
            run = Run("nippo", sent, time.perf_counter() - t0, errors)
        await wait_answered(fake, run, args.wait)
        cpu1 = cpu()
        run.cpu_s = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
        run.push_reasons = await push_reasons(args.url, {s.token for s in sent})
    finally:
        for proc in procs:
            stop(proc, 60)
    backend = "postgresql" if args.url.startswith("postgres") else "sqlite"
    print(
        f"\nMorning burst: {args.burst} members at scale {args.scale} = {members} members "
        f"({len(sent)} taps) over {window:.0f} s, taps {GAP_S[0]:.0f}–{GAP_S[1]:.0f} s apart, "
        f"backend {backend}, {args.replicas} replica(s); {errors} webhook errors"
    )
    print(HEADER)
    replicas = f"x{args.replicas}" if args.replicas > 1 else ""
    report(run, backend, f"burst{args.burst}{replicas}")


async def main(args: argparse.Namespace) -> None:
    from tests.line.fake_api import FakeLineThread

    fake = stamped_fake()
    with FakeLineThread(fake):
        env = {
            **os.environ,
            "DATABASE_URL": args.url,
            "LINE_CHANNEL_SECRET": SECRET,
            "LINE_CHANNEL_ACCESS_TOKEN": "bench-token",
            "LINE_API_BASE_URL": fake.url,
            "LINE_DATA_API_BASE_URL": fake.url,
            "BENCH_FLOOR_DATABASE_URL": args.url,
            "BENCH_FLOOR_LINE_URL": fake.url,
        }
        if args.burst:
            await main_burst(args, env, fake)
        else:
            await main_steady(args, env, fake)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--burst", type=int, default=0, help="morning burst of N members")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument(
        "--replicas", type=int, default=1, help="burst: N `nippo serve` (PostgreSQL)"
    )
    parser.add_argument("--wait", type=float, default=600.0, help="longest wait for answers")
    parser.add_argument("--database", help="postgresql://… (default: a temporary SQLite)")
    parser.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.serve_floor:
        serve_floor(
            a.port, os.environ["BENCH_FLOOR_DATABASE_URL"], os.environ["BENCH_FLOOR_LINE_URL"]
        )
    else:
        from storage import db as storage_db

        a.logs = Path(tempfile.mkdtemp(prefix="nippo-answer-"))
        a.url = a.database or f"sqlite:///{a.logs}/bench.db"
        if a.replicas > 1 and not a.url.startswith("postgres"):
            parser.error("--replicas needs --database postgresql://… (SQLite has one writer)")
        storage_db.upgrade(a.url)
        asyncio.run(main(a))
