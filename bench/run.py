"""Run every benchmark and print one table.

    .venv/bin/python bench/run.py [--quick]

Each benchmark is a script in this folder that prints its own figures and ends with lines of
the form `RESULT <bench> <backend> key=value …`; this runner collects those lines. `--quick`
uses smaller fixtures (for a smoke run; the recorded figures in RESULTS.md use the defaults).
Benchmarks never fail on speed; a benchmark that crashes is reported as such.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

PG_URL = "postgresql://postgres@127.0.0.1:5432/nippo_bench_ingest"

BENCHES: dict[str, tuple[list[str], list[str]]] = {
    # name: (default arguments, --quick arguments)
    "ingest": ([], ["--requests", "500"]),
    "ingest-pg": (["--database-url", PG_URL], ["--database-url", PG_URL, "--requests", "500"]),
    "tick": ([], ["--members", "5000", "--facilities", "200"]),
    "status": ([], ["--runs", "50"]),
    "memory": ([], ["--requests", "1000"]),
}

TARGETS = {
    "ingest": "≥0.8× baseline events/s; p99 ack < 50 ms at 50 concurrent",
    "ingest-pg": "as ingest",
    "tick": "< 2 s on PostgreSQL at 10:31",
    "status": "p95 < 50 ms",
    "memory": "< 200 MB RSS",
}


def fresh_pg_database() -> None:
    """The ingest benchmark's event ids repeat between runs: it needs an empty database."""
    import psycopg

    with psycopg.connect(PG_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS nippo_bench_ingest WITH (FORCE)")
        conn.execute("CREATE DATABASE nippo_bench_ingest")


def run(name: str, args: list[str]) -> tuple[list[str], float, int]:
    if name == "ingest-pg":
        fresh_pg_database()
    script = HERE / f"{name.removesuffix('-pg')}.py"
    if not script.exists():
        return [], 0.0, -1
    began = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, check=False
    )
    took = time.perf_counter() - began
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stdout.write(proc.stderr[-2000:])
    lines = proc.stdout.splitlines()
    results = [line.removeprefix("RESULT ").strip() for line in lines if line.startswith("RESULT ")]
    return results, took, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("names", nargs="*", default=list(BENCHES))
    options = parser.parse_args()
    table: list[tuple[str, str, str]] = []
    for name in options.names:
        default, quick = BENCHES[name]
        print(f"=== {name}", flush=True)
        results, took, code = run(name, quick if options.quick else default)
        if code == -1:
            table.append((name, "-", "not present"))
        elif code != 0:
            table.append((name, "-", f"FAILED (exit {code})"))
        for r in results:
            bench, _, rest = r.partition(" ")
            table.append((bench, rest, TARGETS.get(bench, "")))
        print(f"    ({took:.0f} s)")
    width = max((len(r[1]) for r in table), default=10)
    print("\n| bench | result | target |\n|---|---|---|")
    for bench, result, target in table:
        print(f"| {bench} | {result:{width}} | {target} |")


if __name__ == "__main__":
    main()
