"""Ingest benchmark: signed LINE text-message webhooks against the real app on loopback.

    .venv/bin/python bench/ingest.py [--requests 2000] [--concurrency 50] [--rounds 3]
                                     [--database-url postgresql://postgres@127.0.0.1/bench]

Starts, each in its own process on 127.0.0.1, (1) `nippo serve` itself (`python -m bot serve`,
with its JSON logs going to a file) with LINE configured against a local fake LINE API, and
(2) a baseline app that only verifies and parses the webhook with line-bot-sdk and answers
200. Sends the same bounded number of
signed single-event webhooks from linked members to each at a fixed concurrency, in rounds
that alternate between the two (after a warm-up whose events Nippo has handled), and prints
events/s (the median round), p50/p99 acknowledgement latency (all rounds) and the server's
CPU time per request side by side, with the ratio. Nippo's figure
includes the work done after each acknowledgement (dialog, records, reply to the fake API)
competing for the same CPU and database; the time until every event was handled is printed
too. Loopback only; never fails on speed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
from fastapi import FastAPI, Request, Response  # module level: FastAPI resolves annotations

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-channel-secret"
MEMBERS = 200
TEXTS = ("開始 体調4 睡眠7 データ入力", "ヘルプ", "今日の記録", "終了 入力120件 体調3")


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the two servers (run in child processes) ----------------------------------------------


def serve_nippo_profiled(port: int, profile: str) -> None:
    """What `nippo serve` does, under cProfile (dumped to `profile` on SIGTERM)."""
    import cProfile
    import signal
    import threading

    import uvicorn

    from bot.app import logs
    from bot.app.settings import Settings
    from bot.app.web import create_app, freeze_startup_heap

    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    app = create_app(settings)
    freeze_startup_heap()
    # uvicorn re-raises SIGTERM after its shutdown, so serve on a thread and stop it here.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    prof = cProfile.Profile()

    def run() -> None:
        prof.enable()
        asyncio.run(server.serve())
        prof.disable()

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # for sigwait (threads inherit)
    thread = threading.Thread(target=run)
    thread.start()
    signal.sigwait({signal.SIGTERM})
    server.should_exit = True
    thread.join()
    prof.dump_stats(profile)


def healthy_app() -> FastAPI:
    """A FastAPI app answering `wait_ready`'s /healthz: the benchmarks' reference servers."""
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_baseline(port: int) -> None:
    import uvicorn
    from linebot.v3.exceptions import InvalidSignatureError
    from linebot.v3.webhook import WebhookParser

    app = healthy_app()
    parser = WebhookParser(SECRET)

    @app.post("/callback/line")
    async def callback(request: Request) -> Response:
        body = (await request.body()).decode()
        try:
            parser.parse(body, request.headers.get("x-line-signature", ""))
        except InvalidSignatureError:
            return Response(status_code=400)
        return Response(status_code=200)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- set-up ----------------------------------------------------------------------------------


async def seed(url: str, members: int) -> list[str]:
    """A facility with linked members; their LINE user ids."""
    from bot.services import admin
    from storage.db import Database
    from storage.models import Identity

    db = Database(url)
    now = datetime.now(UTC)
    users = []
    try:
        async with db.transaction() as s:
            facility = await admin.init_facility(s, name=f"bench {time.time_ns()}", now=now)
            for i in range(members):
                m = await admin.add_member(s, facility, name=f"利用者 {i}", now=now)
                user = f"Ubench{time.time_ns():x}{i:04d}"
                s.add(
                    Identity(
                        platform="line",
                        platform_user_id=user,
                        member_id=m.id,
                        active=True,
                        link_failures=0,
                        created_at=now,
                        linked_at=now,
                    )
                )
                users.append(user)
    finally:
        await db.dispose()
    return users


async def pending(url: str) -> int:
    """Events not yet handled plus replies not yet sent."""
    from sqlalchemy import func, select

    from storage.db import Database
    from storage.models import InboxEvent, OutboxMessage

    db = Database(url)
    try:
        async with db.transaction() as s:
            inbox = select(func.count()).where(InboxEvent.status == "pending")
            outbox = select(func.count()).where(
                OutboxMessage.platform == "line", OutboxMessage.status.in_(("pending", "sending"))
            )
            return int((await s.execute(inbox)).scalar_one()) + int(
                (await s.execute(outbox)).scalar_one()
            )
    finally:
        await db.dispose()


def bodies(users: list[str], n: int, tag: str) -> list[bytes]:
    out = []
    now_ms = int(time.time() * 1000)
    for i in range(n):
        ev = {
            "type": "message",
            "mode": "active",
            "timestamp": now_ms + i,
            "source": {"type": "user", "userId": users[i % len(users)]},
            "webhookEventId": f"01BENCH{tag}{i:012d}",
            "deliveryContext": {"isRedelivery": False},
            "replyToken": f"bench-{tag}-{i}",
            "message": {
                "id": str(10**9 + i),
                "type": "text",
                "quoteToken": "q",
                "text": TEXTS[(i // len(users)) % len(TEXTS)],
            },
        }
        out.append(json.dumps({"destination": "Ubot", "events": [ev]}).encode())
    return out


@dataclass
class Round:
    events_per_s: float
    latencies: list[float]
    errors: int
    cpu_ms: float | None  # the server process's CPU time per request, where known


@dataclass
class Result:
    """One app's rounds: the median round's rate and CPU, latency over all requests."""

    name: str
    rounds: list[Round]

    @property
    def events_per_s(self) -> float:
        return statistics.median(r.events_per_s for r in self.rounds)

    def latency_ms(self, percentile: int) -> float:
        pooled = [t for r in self.rounds for t in r.latencies]
        return statistics.quantiles(pooled, n=100)[percentile - 1] * 1000

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.rounds)

    @property
    def cpu_ms(self) -> float | None:
        known = [r.cpu_ms for r in self.rounds if r.cpu_ms is not None]
        return statistics.median(known) if known else None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux); steadier than events/s on a
    shared machine, where other work takes turns on the same cores."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def hammer(port: int, payloads: list[bytes], concurrency: int, pid: int) -> Round:
    """Fixed concurrency: `concurrency` workers, each sending one request at a time."""
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for p in payloads:
        queue.put_nowait(p)
    url = f"http://127.0.0.1:{port}/callback/line"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                body = queue.get_nowait()
                headers = {"X-Line-Signature": sign(body), "Content-Type": "application/json"}
                t = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as r:
                    await r.read()
                    latencies.append(time.perf_counter() - t)
                    if r.status != 200:
                        errors += 1

        start, cpu0 = time.perf_counter(), cpu_seconds(pid)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall, cpu1 = time.perf_counter() - start, cpu_seconds(pid)
    cpu = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) * 1000 / len(payloads)
    return Round(len(payloads) / wall, latencies, errors, cpu)


def start(kind: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    if kind == "nippo" and not os.environ.get("BENCH_PROFILE"):
        cmd = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
    else:
        cmd = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out)


def stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM a server (it finishes its work and flushes a profile), then SIGKILL after
    `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def wait_ready(port: int) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


async def main(args: argparse.Namespace) -> None:
    from tests.line.fake_api import FakeLine, FakeLineThread

    url = args.url
    backend = "postgresql" if url.startswith("postgres") else "sqlite"
    users = await seed(url, MEMBERS)

    with FakeLineThread(FakeLine()) as fake:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "LINE_CHANNEL_SECRET": SECRET,
            "LINE_CHANNEL_ACCESS_TOKEN": "bench-token",
            "LINE_API_BASE_URL": fake.url,
            "LINE_DATA_API_BASE_URL": fake.url,
        }
        servers = {}
        for kind in ("baseline", "nippo"):
            port = free_port()
            servers[kind] = (port, start(kind, port, env, args.logs / f"{kind}.log"))
        results = {kind: Result(kind, []) for kind in servers}
        drained: list[float] = []
        try:
            for kind, (port, proc) in servers.items():
                await wait_ready(port)
                await hammer(port, bodies(users, 50, f"W{kind[0]}"), args.concurrency, proc.pid)
            await drain(url, 300)  # measure a warm, idle Nippo: the warm-up's events handled
            # Rounds alternate between the apps, so a slow phase of a shared machine falls
            # on both; Nippo's events are all handled before the next round (its work after
            # the acknowledgement must not take CPU from the baseline's round).
            for n in range(args.rounds):
                for kind, (port, proc) in servers.items():
                    payloads = bodies(users, args.requests, f"{kind[0].upper()}{n}")
                    t0 = time.perf_counter()
                    results[kind].rounds.append(
                        await hammer(port, payloads, args.concurrency, proc.pid)
                    )
                    if kind == "nippo":
                        await drain(url, 300)
                        drained.append(time.perf_counter() - t0)
        finally:
            for _, proc in servers.values():
                proc.terminate()
            for _, proc in servers.values():
                try:
                    proc.wait(timeout=120 if os.environ.get("BENCH_PROFILE") else 30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        replies = len(fake.calls("/v2/bot/message/reply"))

    base, nippo = results["baseline"], results["nippo"]
    print(
        f"\nLINE ingest, {args.rounds} rounds of {args.requests} signed text webhooks, "
        f"concurrency {args.concurrency}, backend {backend}"
    )
    print(
        f"{'app':<10}{'events/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}"
        f"{'server CPU ms/request':>23}"
    )
    for r in (base, nippo):
        cpu = "n/a" if r.cpu_ms is None else f"{r.cpu_ms:.2f}"
        print(
            f"{r.name:<10}{r.events_per_s:>10.0f}{r.latency_ms(50):>10.1f}"
            f"{r.latency_ms(99):>10.1f}{r.errors:>8}{cpu:>23}"
        )
    per_round = [
        n.events_per_s / b.events_per_s for b, n in zip(base.rounds, nippo.rounds, strict=True)
    ]
    ratio = nippo.events_per_s / base.events_per_s
    print(
        f"nippo/baseline ack throughput ratio: {ratio:.2f} (medians; per round: "
        + ", ".join(f"{x:.2f}" for x in per_round)
        + ")"
    )
    print(
        f"RESULT ingest {backend} nippo_eps={nippo.events_per_s:.0f} "
        f"baseline_eps={base.events_per_s:.0f} ratio={ratio:.2f} "
        f"p50_ms={nippo.latency_ms(50):.1f} p99_ms={nippo.latency_ms(99):.1f}"
    )
    print(
        f"nippo: each round's {args.requests} events all handled "
        f"{statistics.median(drained):.1f} s after its first request (median; "
        f"{args.requests / statistics.median(drained):.0f} events/s end to end); "
        f"{replies} replies sent to the fake LINE API"
    )
    log = (args.logs / "nippo.log").read_text(errors="replace").splitlines()
    access = sum('"uvicorn.access"' in line for line in log)
    print(f"nippo serve wrote {len(log)} log lines, {access} of them access lines")


async def drain(url: str, at_most: float) -> None:
    """Until Nippo has handled every stored event and sent every answer."""
    until = time.perf_counter() + at_most
    while await pending(url) and time.perf_counter() < until:  # noqa: ASYNC110
        await asyncio.sleep(0.2)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url")
    parser.add_argument("--serve", choices=("nippo", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.serve == "nippo":
        serve_nippo_profiled(a.port, os.environ["BENCH_PROFILE"])
    elif a.serve == "baseline":
        serve_baseline(a.port)
    else:
        from storage import db as storage_db

        a.logs = Path(tempfile.mkdtemp(prefix="nippo-bench-"))  # the servers' output
        a.url = a.database_url or f"sqlite:///{a.logs}/bench.db"
        storage_db.upgrade(a.url)  # alembic runs its own event loop: before ours
        asyncio.run(main(a))
