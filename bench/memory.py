"""Memory benchmark: the RSS of `nippo serve` (SQLite, LINE on) under a bounded webhook load.

    .venv/bin/python bench/memory.py [--requests 5000] [--concurrency 20]

Starts `python -m bot serve` on 127.0.0.1 against a local fake LINE API and a temporary
SQLite file with 200 linked members, sends a bounded number of signed single-event text
webhooks at a fixed concurrency, waits until every event was handled and answered, idles a
few seconds, and samples the server's resident set size every 0.2 s throughout (psutil when
installed, else /proc/PID/status VmRSS). Prints RSS after start-up, the peak, and the steady
RSS after the load (target < 200 MB). Loopback only; never fails on memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import ingest  # noqa: E402 - the ingest benchmark's seeding, bodies and load generator

SAMPLE_SECONDS = 0.2
IDLE_SECONDS = 5.0


def rss_mb(pid: int) -> float:
    try:
        import psutil  # type: ignore[import-untyped, unused-ignore]

        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("cannot read the server's RSS")


async def sample(pid: int, into: list[tuple[float, float]], stop: asyncio.Event) -> None:
    start = time.perf_counter()
    while not stop.is_set():
        into.append((time.perf_counter() - start, rss_mb(pid)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_SECONDS)


async def main(args: argparse.Namespace) -> None:
    from tests.line.fake_api import FakeLine, FakeLineThread

    users = await ingest.seed(args.url, ingest.MEMBERS)
    with FakeLineThread(FakeLine()) as fake:
        fake.quota_limit = None
        port = ingest.free_port()
        env = {
            **os.environ,
            "DATABASE_URL": args.url,
            "LINE_CHANNEL_SECRET": ingest.SECRET,
            "LINE_CHANNEL_ACCESS_TOKEN": "bench-token",
            "LINE_API_BASE_URL": fake.url,
            "LINE_DATA_API_BASE_URL": fake.url,
            "LOG_LEVEL": "WARNING",
        }
        cmd = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before the load
            cmd, env=env, cwd=HERE.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        samples: list[tuple[float, float]] = []
        stop = asyncio.Event()
        try:
            await ingest.wait_ready(port)
            started = rss_mb(proc.pid)
            sampler = asyncio.create_task(sample(proc.pid, samples, stop))
            t0 = time.perf_counter()
            result = await ingest.hammer(
                port, ingest.bodies(users, args.requests, "M"), args.concurrency, "nippo"
            )
            while await ingest.pending(args.url) and time.perf_counter() - t0 < 600:  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            drained = time.perf_counter() - t0
            loaded_until = samples[-1][0]
            await asyncio.sleep(IDLE_SECONDS)
            stop.set()
            await sampler
        finally:
            ingest.stop(proc)
    peak = max(mb for _, mb in samples)
    idle = [mb for t, mb in samples if t > loaded_until]
    under_load = [mb for t, mb in samples if t <= loaded_until]
    print(
        f"\nnippo serve (SQLite, LINE on), {args.requests} signed webhooks, "
        f"concurrency {args.concurrency}, {len(samples)} RSS samples every {SAMPLE_SECONDS} s"
    )
    print(f"acknowledged: {result.events_per_s:.0f} events/s, errors {result.errors}")
    print(f"all handled and answered after {drained:.1f} s")
    print(f"RSS after start-up: {started:.1f} MB")
    print(f"RSS median under load: {statistics.median(under_load):.1f} MB")
    timeline = ", ".join(
        f"{t:.0f} s {mb:.0f} MB" for t, mb in samples[:: max(1, len(samples) // 8)]
    )
    print(f"RSS over time: {timeline}")
    print(f"RSS peak: {peak:.1f} MB (target < 200 MB)")
    print(
        f"RSS steady after the load ({IDLE_SECONDS:.0f} s idle): {statistics.median(idle):.1f} MB"
    )
    replies = len(fake.calls("/v2/bot/message/reply"))
    pushes = len(fake.calls("/v2/bot/message/push"))
    print(f"sent to the fake LINE API: {replies} replies, {pushes} pushes")
    print(f"RESULT memory sqlite peak_mb={peak:.1f} steady_mb={statistics.median(idle):.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=20)
    a = parser.parse_args()
    from storage import db as storage_db

    a.url = f"sqlite:///{tempfile.mkdtemp(prefix='nippo-mem-')}/bench.db"
    storage_db.upgrade(a.url)
    asyncio.run(main(a))
