"""Accuracy of the message parser on the corpus of members' messages.

    .venv/bin/python bench/corpus.py [--failures] [--kind KIND] [--corpus PATH]

Reads every message of tests/corpus/messages.jsonl with bot.core.parsing (SudachiPy analyser) and
prints accuracy per kind and per field, overall field accuracy, crisis and urgent recall, and
the false crises and false urgents. `--failures` lists every mismatch. Like every benchmark it
prints figures and exits 0 whatever they are; tests/unit/test_corpus.py asserts thresholds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.corpus_score import CORPUS, FIELDS, Report, load, parser_reader, score  # noqa: E402


def _pct(correct: int, total: int) -> str:
    return f"{correct}/{total} ({100 * correct / total:.1f} %)" if total else "-"


def _shown(value: object) -> str:
    return "null" if value is None else repr(value)


def print_report(report: Report, *, failures: bool) -> None:
    print(f"{report.messages} messages, {report.fields.compared} scored fields\n")
    print(f"{'kind':<18}{'messages':>9}{'all right':>11}  fields right")
    for kind, t in sorted(report.by_kind.items()):
        print(
            f"{kind:<18}{t.messages:>9}{t.all_correct:>11}  "
            f"{_pct(t.fields.correct, t.fields.compared)}"
        )
    print(f"\n{'field':<18}{'compared':>9}  right")
    for name in FIELDS:
        t = report.by_field.get(name)
        if t:
            print(f"{name:<18}{t.compared:>9}  {_pct(t.correct, t.compared)}")
    tiers = report.expected_tiers
    print()
    print(f"overall field accuracy  {_pct(report.fields.correct, report.fields.compared)}")
    print(f"crisis recall           {_pct(report.crisis_found, tiers.get('crisis', 0))}")
    print(
        f"urgent recall           {_pct(report.urgent_found, tiers.get('urgent', 0))}"
        "  (read urgent or crisis)"
    )
    print(f"false crises            {len(report.false_crises)}  {' '.join(report.false_crises)}")
    print(f"false urgents           {len(report.false_urgents)}  {' '.join(report.false_urgents)}")
    if report.errors:
        print(f"reader errors           {len(report.errors)}  (first: {report.errors[0][1]})")
    if failures:
        print(f"\n{len(report.mismatches)} mismatches (id, field, expected, got, text):")
        for x in report.mismatches:
            print(f"{x.id:<22}{x.field:<17}{_shown(x.expected):<14}{_shown(x.got):<24}{x.text}")
    print(
        f"\nRESULT corpus sudachi accuracy={report.accuracy:.3f} "
        f"crisis_recall={report.crisis_recall:.3f} urgent_recall={report.urgent_recall:.3f} "
        f"false_crises={len(report.false_crises)} false_urgents={len(report.false_urgents)}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--failures", action="store_true", help="list every mismatch")
    ap.add_argument("--kind", help="only messages of this kind (start, crisis, benign …)")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    args = ap.parse_args(argv)
    messages = load(args.corpus)
    if args.kind:
        messages = [m for m in messages if m["kind"] == args.kind]
        if not messages:
            print(f"no messages of kind {args.kind!r}")
            return 0
    t0 = time.perf_counter()
    read = parser_reader()
    t1 = time.perf_counter()
    report = score(messages, read)
    t2 = time.perf_counter()
    print(f"analyser ready in {t1 - t0:.2f} s; {len(messages)} messages read in {t2 - t1:.2f} s")
    print_report(report, failures=args.failures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
