"""Ingest benchmark: signed LINE text-message webhooks against the real app on loopback.

    .venv/bin/python bench/ingest.py [--requests 2000] [--concurrency 50]
                                     [--database-url postgresql://postgres@127.0.0.1/bench]

Starts, each in its own process on 127.0.0.1, (1) Nippo's app (`create_app`) with LINE
configured against a local fake LINE API, and (2) a baseline app that only verifies and
parses the webhook with line-bot-sdk and answers 200. Sends the same bounded number of
signed single-event webhooks from linked members to each at a fixed concurrency (after a
warm-up whose events Nippo has handled before the measured run) and prints
events/s and p50/p99 acknowledgement latency side by side, with the ratio. Nippo's figure
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
from fastapi import Request, Response  # module level: FastAPI resolves annotations here

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


def serve_nippo(port: int) -> None:
    import uvicorn

    from bot.app import create_app, freeze_startup_heap
    from bot.settings import Settings

    app = create_app(Settings())
    freeze_startup_heap()  # as `nippo serve` does
    profile = os.environ.get("BENCH_PROFILE")  # a file: where to dump a cProfile of the server
    if not profile:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        return
    import cProfile
    import signal
    import threading

    # uvicorn re-raises SIGTERM after its shutdown, so serve on a thread and stop it here.
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
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


def serve_baseline(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI
    from linebot.v3.exceptions import InvalidSignatureError
    from linebot.v3.webhook import WebhookParser

    app = FastAPI()
    parser = WebhookParser(SECRET)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

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
    from bot import admin
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
class Result:
    name: str
    events_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


async def hammer(port: int, payloads: list[bytes], concurrency: int, name: str) -> Result:
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

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100)
    return Result(name, len(payloads) / wall, q[49] * 1000, q[98] * 1000, errors)


def start(kind: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port)], env=env, cwd=ROOT
    )


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
        results = []
        for kind in ("baseline", "nippo"):
            port = free_port()
            proc = start(kind, port, env)
            try:
                await wait_ready(port)
                warm = bodies(users, 50, f"W{kind[0]}")
                await hammer(port, warm, args.concurrency, kind)
                # Measure a warm, idle server: the warm-up's events handled first.
                while kind == "nippo" and await pending(url):  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
                payloads = bodies(users, args.requests, kind[0].upper())
                t0 = time.perf_counter()
                results.append(await hammer(port, payloads, args.concurrency, kind))
                drained = None
                if kind == "nippo":
                    while await pending(url) and time.perf_counter() - t0 < 300:  # noqa: ASYNC110
                        await asyncio.sleep(0.2)
                    drained = time.perf_counter() - t0
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=120 if os.environ.get("BENCH_PROFILE") else 30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        replies = len(fake.calls("/v2/bot/message/reply"))

    base, nippo = results
    print(
        f"\nLINE ingest, {args.requests} signed text webhooks, concurrency {args.concurrency}, "
        f"backend {backend}"
    )
    print(f"{'app':<10}{'events/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for r in results:
        print(f"{r.name:<10}{r.events_per_s:>10.0f}{r.p50_ms:>10.1f}{r.p99_ms:>10.1f}{r.errors:>8}")
    ratio = nippo.events_per_s / base.events_per_s
    print(f"nippo/baseline ack throughput ratio: {ratio:.2f}")
    print(
        f"RESULT ingest {backend} nippo_eps={nippo.events_per_s:.0f} "
        f"baseline_eps={base.events_per_s:.0f} ratio={ratio:.2f} "
        f"p50_ms={nippo.p50_ms:.1f} p99_ms={nippo.p99_ms:.1f}"
    )
    if drained is not None:
        print(
            f"nippo: all {args.requests} events handled {drained:.1f} s after the first "
            f"request ({args.requests / drained:.0f} events/s end to end); "
            f"{replies} replies sent to the fake LINE API"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--database-url")
    parser.add_argument("--serve", choices=("nippo", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.serve == "nippo":
        serve_nippo(a.port)
    elif a.serve == "baseline":
        serve_baseline(a.port)
    else:
        from storage import db as storage_db

        a.url = a.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='nippo-bench-')}/bench.db"
        storage_db.upgrade(a.url)  # alembic runs its own event loop: before ours
        asyncio.run(main(a))
