"""One benchmark, this tree against an earlier commit, side by side in the same minutes.

    .venv/bin/python bench/compare.py tick --base b4ae0e9 --rounds 3 -- --backend sqlite
    .venv/bin/python bench/compare.py ingest --base HEAD~1 --rounds 3 -- --requests 1000
    .venv/bin/python bench/compare.py ingest --base HEAD~1 \\
        --fresh-database postgresql://postgres@127.0.0.1:5432/nippo_bench_ingest \\
        -- --database-url postgresql://postgres@127.0.0.1:5432/nippo_bench_ingest

The earlier commit (and, with `--this REV`, the measured one instead of the working tree) is
extracted with `git archive` into a temporary folder (no worktree, no change to this
checkout). Rounds alternate between the two trees, each running its own copy of
`bench/<name>.py` with its own code first on the path, so both see the same machine load.
Every benchmark ends with `RESULT <bench> <label> key=value …` lines; for each numeric key this
prints the median over rounds of each tree and the ratio this/base (times: below 1 is faster;
events/s: above 1 is faster). Never fails on speed.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

Results = dict[tuple[str, str], list[float]]  # (label, key) -> values, one per round


def extract(rev: str, into: Path) -> str:
    """The tree of `rev` in `into`; its short commit id."""
    data = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def parse(output: str) -> Results:
    """RESULT lines: `RESULT <bench> <label> [key=value …]`; a line's label includes any
    non-numeric key=value pairs (e.g. tick's at=10:31), so repeated measurements stay apart."""
    found: Results = defaultdict(list)
    seen: dict[str, int] = defaultdict(int)
    for line in output.splitlines():
        if not line.startswith("RESULT "):
            continue
        words = line.split()[2:]
        label_parts = [w for w in words if "=" not in w]
        numbers: dict[str, float] = {}
        for word in (w for w in words if "=" in w):
            key, _, value = word.partition("=")
            try:
                numbers[key] = float(value)
            except ValueError:
                label_parts.append(word)
        label = " ".join(label_parts)
        seen[label] += 1
        if seen[label] > 1:  # the same measurement again in one run (tick's second 10:31)
            label = f"{label} #{seen[label]}"
        for key, number in numbers.items():
            found[(label, key)].append(number)
    return found


def fresh_database(url: str) -> None:
    """Drop and create the PostgreSQL database `url` names, as bench/run.py does before
    ingest: its event ids repeat between runs and would be stored only once."""
    import psycopg

    server, _, name = url.rpartition("/")
    if name in ("", "postgres", "test", "template0", "template1"):
        raise SystemExit(f"refusing to recreate the database {name!r}")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def run_once(tree: Path, name: str, extra: list[str]) -> tuple[Results, str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run(
        [sys.executable, str(tree / "bench" / f"{name}.py"), *extra],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise SystemExit(f"{name} failed in {tree}:\n{tail}")
    return parse(proc.stdout), proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", help="a script in bench/ (without .py), e.g. tick or ingest")
    parser.add_argument("--base", default="HEAD~1", help="the earlier commit (default HEAD~1)")
    parser.add_argument(
        "--this", help="a commit to measure instead of the working tree (e.g. HEAD)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--fresh-database",
        metavar="URL",
        help="a PostgreSQL database (libpq URL) dropped and created before every run",
    )
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)

    with tempfile.TemporaryDirectory(prefix="nippo-compare-") as tmp:
        base_tree, this_tree = Path(tmp) / "base", Path(tmp) / "this"
        base_id = extract(args.base, base_tree)
        this_id = "the working tree"
        if args.this:
            this_id = extract(args.this, this_tree)
        else:
            this_tree = ROOT
        trees = {"base": base_tree, "this": this_tree}
        collected: dict[str, Results] = {"base": defaultdict(list), "this": defaultdict(list)}
        for round_no in range(args.rounds):
            order = ("base", "this") if round_no % 2 == 0 else ("this", "base")
            for which in order:
                if args.fresh_database:
                    fresh_database(args.fresh_database)
                found, _ = run_once(trees[which], args.bench, extra)
                for key, values in found.items():
                    collected[which][key].extend(values)
            print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)

    print(f"\n{args.bench}: {this_id} against {base_id}, {args.rounds} alternating rounds")
    print(f"{'measure':<44}{'base':>12}{'this':>12}{'this/base':>11}")
    for key in sorted(set(collected["base"]) | set(collected["this"])):
        base_values, this_values = collected["base"].get(key), collected["this"].get(key)
        if not base_values or not this_values:
            continue
        b, t = statistics.median(base_values), statistics.median(this_values)
        ratio = f"{t / b:.2f}" if b else "n/a"
        label = f"{key[0]} {key[1]}"
        print(f"{label:<44}{b:>12.3f}{t:>12.3f}{ratio:>11}")


if __name__ == "__main__":
    main()
