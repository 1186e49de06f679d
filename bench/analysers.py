"""SudachiPy (sudachidict-core) against fugashi + unidic-lite, measured side by side.

    .venv/bin/python bench/analysers.py [--rounds 10]

Each analyser is measured in a fresh process of its own (so that load time and memory are
its alone): dictionary load time (import included), RSS after load, mean and p99 time per
corpus message (tests/corpus/messages.jsonl, after one warm-up pass; what bot/services/nlp.py
does: surface, lemma, part of speech, reading per morpheme), and a lemma check on inflected and
kana forms the parser must recognise (Sudachi: normalized_form(); UniDic: feature.lemma
without its "-…" suffix). A form passes when one of its morphemes has an expected lemma.

fugashi and unidic-lite are for this measurement only (not dependencies of Nippo):
`.venv/bin/pip install fugashi unidic-lite`. Without them it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "tests" / "corpus" / "messages.jsonl"
ANALYSERS = ("sudachi", "fugashi")

# (form, accepted lemmas): inflections, kana spellings, dialect the concern and intent
# readers must bring back to one word.
LEMMA_CHECK: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("しにたい", ("死ぬ",)),
    ("死にたかった", ("死ぬ",)),
    ("シニタイ", ("死ぬ",)),
    ("死のうと思う", ("死ぬ",)),
    ("死にてえ", ("死ぬ",)),
    ("消えたい", ("消える",)),
    ("きえたい", ("消える",)),
    ("消えてしまいたい", ("消える",)),
    ("生きていたくない", ("生きる",)),
    ("傷つけた", ("傷つける", "傷付ける")),
    ("倒れそう", ("倒れる",)),
    ("たおれそう", ("倒れる",)),
    ("苦しくて", ("苦しい",)),
    ("くるしい", ("苦しい",)),
    ("痛くて", ("痛い",)),
    ("いたい", ("痛い",)),
    ("つらかった", ("辛い",)),
    ("眠れなかった", ("眠る", "眠れる")),
    ("ねむれなかった", ("眠る", "眠れる")),
    ("寝てない", ("寝る",)),
    ("ねてない", ("寝る",)),
    ("すいみん", ("睡眠",)),
    ("タイチョウ", ("体調",)),
    ("たいちょう", ("体調",)),
    ("始めるわ", ("始める",)),
    ("はじめます", ("始める",)),
    ("始めとります", ("始める",)),
    ("終わりました", ("終わる",)),
    ("おわった", ("終わる",)),
    ("休ませてください", ("休む", "休ませる")),
    ("やすみます", ("休む",)),
    ("飛び降りたい", ("飛び降りる", "飛び下りる")),  # the dictionaries' spelling: 飛び下りる
    ("首を吊りたい", ("吊る",)),
    ("しんどかった", ("しんどい",)),
    ("寝れなかった", ("寝る", "寝れる")),
    ("死にとうない", ("死ぬ",)),
    ("相談したい", ("相談",)),
    ("話したい", ("話す",)),
)


# --- the child: one analyser in a process of its own ------------------------------------------


def _memory_mb() -> dict[str, float]:
    """VmRSS, and its anonymous and file-backed parts (a memory-mapped dictionary's pages
    count as file-backed: shared page cache, reclaimable). Peak RSS if /proc is missing."""
    out: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    if "VmRSS" not in out:
        out["VmRSS"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return out


def _load(name: str) -> tuple[Any, Any]:
    """(analyse(text) -> tuples like nlp's Morpheme, lemmas(text) -> list of lemmas)."""
    if name == "sudachi":
        from sudachipy import Dictionary, SplitMode

        tokenizer = Dictionary(dict="core").tokenizer(mode=SplitMode.C)  # as bot/services/nlp.py

        def analyse(text: str) -> list[tuple[str, str, str, str]]:
            return [
                (m.surface(), m.normalized_form(), m.part_of_speech()[0], m.reading_form())
                for m in tokenizer.tokenize(text)
            ]

        def lemmas(text: str) -> list[str]:
            return [m.normalized_form() for m in tokenizer.tokenize(text)]

        return analyse, lemmas

    import fugashi  # type: ignore[import-not-found]

    tagger = fugashi.Tagger()  # unidic-lite when installed

    def _lemma(word: Any) -> str:
        lemma = getattr(word.feature, "lemma", None) or word.surface
        return str(lemma).split("-", 1)[0]

    def analyse_f(text: str) -> list[tuple[str, str, str, str]]:
        return [
            (w.surface, _lemma(w), w.feature.pos1, getattr(w.feature, "kana", None) or "")
            for w in tagger(text)
        ]

    def lemmas_f(text: str) -> list[str]:
        return [_lemma(w) for w in tagger(text)]

    return analyse_f, lemmas_f


def measure(name: str, rounds: int) -> dict[str, Any]:
    texts = [json.loads(line)["text"] for line in CORPUS.read_text("utf-8").splitlines() if line]
    before = _memory_mb()
    t0 = time.perf_counter()
    try:
        analyse, lemmas = _load(name)
    except ImportError as exc:
        return {"name": name, "missing": str(exc)}
    load_s = time.perf_counter() - t0
    after = _memory_mb()
    t_cold = time.perf_counter()
    for text in texts:  # warm-up: first calls fault in the dictionary's pages
        analyse(text)
    cold_us = (time.perf_counter() - t_cold) * 1e6 / len(texts)
    times: list[float] = []
    for _ in range(rounds):
        for text in texts:
            t = time.perf_counter_ns()
            analyse(text)
            times.append((time.perf_counter_ns() - t) / 1000)
    times.sort()
    checks = []
    for form, accepted in LEMMA_CHECK:
        got = lemmas(form)
        checks.append({"form": form, "got": got, "ok": any(g in accepted for g in got)})
    return {
        "name": name,
        "load_s": load_s,
        "rss_before_mb": before["VmRSS"],
        **{f"{k}_after_mb": v for k, v in after.items()},
        **{f"{k}_end_mb": v for k, v in _memory_mb().items()},
        "messages": len(texts),
        "calls": len(times),
        "cold_us": cold_us,
        "mean_us": statistics.fmean(times),
        "p99_us": times[min(len(times) - 1, int(0.99 * len(times)))],
        "checks": checks,
    }


# --- the parent: run both, print side by side ---------------------------------------------------


def _run_child(name: str, rounds: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", name, "--rounds", str(rounds)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return {"name": name, "failed": out.stderr.strip().splitlines()[-1:] or ["?"]}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "-"


def report(results: dict[str, dict[str, Any]]) -> None:
    s, f = results["sudachi"], results["fugashi"]
    for r in (s, f):
        if "failed" in r:
            print(f"{r['name']}: the measurement failed: {r['failed'][0]}")
    if "missing" in f:
        print(
            f"fugashi is not installed ({f['missing']}): only SudachiPy measured.\n"
            "For the comparison: .venv/bin/pip install fugashi unidic-lite"
        )
    ok = [r for r in (s, f) if "load_s" in r]
    if not ok:
        return
    n = len(LEMMA_CHECK)
    rows = [
        ("dictionary load (import included), s", "load_s", "{:.3f}"),
        ("RSS before import, MB", "rss_before_mb", "{:.1f}"),
        ("RSS after load, MB", "VmRSS_after_mb", "{:.1f}"),
        ("  anonymous", "RssAnon_after_mb", "{:.1f}"),
        ("  file-backed (mapped dictionary)", "RssFile_after_mb", "{:.1f}"),
        ("RSS after the timed corpus passes, MB", "VmRSS_end_mb", "{:.1f}"),
        ("  anonymous", "RssAnon_end_mb", "{:.1f}"),
        ("  file-backed (mapped dictionary)", "RssFile_end_mb", "{:.1f}"),
        ("first pass (pages fault in), mean µs", "cold_us", "{:.1f}"),
        ("mean per message, µs", "mean_us", "{:.1f}"),
        ("p99 per message, µs", "p99_us", "{:.1f}"),
    ]
    names = [r["name"] for r in ok]
    both = len(ok) == 2
    header = (
        f"{'':<40}"
        + "".join(f"{x:>14}" for x in names)
        + (f"{'fugashi/sudachi':>18}" if both else "")
    )
    print(f"{ok[0]['messages']} corpus messages, {ok[0]['calls']} timed calls each\n")
    print(header)
    for label, key, fmt in rows:
        if not all(key in r for r in ok):
            continue  # no /proc: only the peak RSS
        line = f"{label:<40}" + "".join(f"{fmt.format(r[key]):>14}" for r in ok)
        if both:
            line += f"{_ratio(f[key], s[key]):>18}"
        print(line)
    passed = {r["name"]: sum(c["ok"] for c in r["checks"]) for r in ok}
    line = f"{'lemma check, forms right':<40}" + "".join(f"{f'{passed[x]}/{n}':>14}" for x in names)
    if both:
        line += f"{_ratio(passed['fugashi'], passed['sudachi']):>18}"
    print(line)
    print(f"\n{'form':<18}{'expected':<14}" + "".join(f"{x:<28}" for x in names))
    for i, (form, accepted) in enumerate(LEMMA_CHECK):
        cells = []
        for r in ok:
            c = r["checks"][i]
            cells.append(f"{'✓' if c['ok'] else '✗'} {' '.join(c['got'])}"[:27])
        print(f"{form:<18}{'/'.join(accepted):<14}" + "".join(f"{x:<28}" for x in cells))
    for r in ok:
        print(
            f"RESULT analysers {r['name']} load_s={r['load_s']:.3f} "
            f"rss_mb={r['VmRSS_after_mb']:.1f} rss_end_mb={r['VmRSS_end_mb']:.1f} "
            f"mean_us={r['mean_us']:.1f} p99_us={r['p99_us']:.1f} "
            f"lemmas={passed[r['name']]}/{n}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10, help="timed passes over the corpus")
    ap.add_argument("--measure", choices=ANALYSERS, help=argparse.SUPPRESS)  # the child
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.rounds), ensure_ascii=False))
        return 0
    report({name: _run_child(name, args.rounds) for name in ANALYSERS})
    return 0


if __name__ == "__main__":
    sys.exit(main())
