"""Scoring of the message corpus (tests/corpus/messages.jsonl) against a reader.

Pure: loading, comparing, aggregating. `score(messages, read)` takes the corpus and a function
that reads one message into a mapping of observed values (the keys of `expect`); it never
raises on a reader's error, which counts as a wrong reading of every scored field.
`parser_reader()` builds that function from bot.core.parsing (imported only when called).

Scoring rules:
- `intent` and `concern` are always scored (missing means null); other keys only when given.
- numbers match within 0.01; `stated_time` and time-valued corrections compare as "HH:MM";
  `work` and text corrections compare after NFKC, lower case, without whitespace,
  punctuation, symbols (emoji) and 〜ー~・.
- crisis recall: expected crisis, read crisis. urgent recall: expected urgent, read urgent or
  crisis (crisis is counted separately as a false crisis). A false crisis is a message whose
  expected concern is not crisis read as crisis; a false urgent is one expected below urgent
  (watch or null) read as urgent.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "messages.jsonl"

FIELDS = (
    "intent",
    "concern",
    "health",
    "sleep_hours",
    "temperature",
    "stated_time",
    "work",
    "day_offset",
    "consult",
    "correction_field",
    "correction_value",
)
ALWAYS = ("intent", "concern")
KINDS = (
    "start", "end", "absence", "absence_tomorrow", "consult", "early_finish", "correction",
    "smalltalk", "answer", "crisis", "urgent", "watch", "benign", "mixed",
)  # fmt: skip
STEPS = (None, "health", "sleep", "temperature", "plan", "work_done", "outputs", "note")
TIERS = ("crisis", "urgent", "watch")
_CONCERN_NAMES = {"crisis": "crisis", "urgent": "urgent", "warning": "watch", "watch": "watch"}
_TOLERANCE = 0.01
_EXTRA_DROPPED = frozenset("〜ー~・")

Message = Mapping[str, Any]
Reader = Callable[[Message], Mapping[str, Any]]


# --- loading ---------------------------------------------------------------------------------


def load(path: Path | str = CORPUS) -> list[dict[str, Any]]:
    """The corpus, one JSON object a line; raises ValueError on a malformed line."""
    messages: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        m = json.loads(line)
        problem = _problem(m, seen)
        if problem:
            raise ValueError(f"{path}:{number}: {problem}")
        seen.add(m["id"])
        messages.append(m)
    return messages


def _problem(m: Any, seen: set[str]) -> str | None:
    if not isinstance(m, dict) or not isinstance(m.get("id"), str) or m["id"] in seen:
        return "needs a unique string id"
    if m.get("kind") not in KINDS:
        return f"unknown kind {m.get('kind')!r}"
    if not isinstance(m.get("text"), str) or m.get("step") not in STEPS:
        return "needs a text and a known step (or null)"
    expect = m.get("expect")
    if not isinstance(expect, dict) or set(expect) - set(FIELDS):
        return f"expect has unknown keys: {sorted(set(expect or {}) - set(FIELDS))}"
    if expect.get("concern") not in (None, *TIERS):
        return f"unknown concern {expect.get('concern')!r}"
    return None


def local_time(m: Message) -> time:
    """The message's `at` ("HH:MM", default 09:55) as a time of day."""
    hh, mm = str(m.get("at") or "09:55").split(":")
    return time(int(hh), int(mm))


# --- comparing -------------------------------------------------------------------------------


def normalize_work(value: object) -> str:
    """NFKC, lower case, without whitespace, punctuation, symbols (emoji) and 〜ー~・."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value)).lower()
    return "".join(
        ch
        for ch in text
        if ch not in _EXTRA_DROPPED
        and unicodedata.category(ch)[0] not in "PSZC"
        and ch != "\ufe0f"  # emoji variation selector (category Mn)
    )


def _hhmm(value: object) -> object:
    if isinstance(value, datetime):
        return value.strftime("%H:%M")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def same(field_name: str, expected: object, got: object) -> bool:
    """Whether a reading matches the expectation for one field."""
    if field_name == "work":
        return normalize_work(expected) == normalize_work(got)
    if field_name == "consult":
        return bool(expected) == bool(got)
    if field_name == "day_offset":
        return (expected or 0) == (got or 0)
    got = _hhmm(got)
    if expected is None or got is None:
        return expected is None and got is None
    if _is_number(expected):
        try:
            return abs(float(expected) - float(got)) <= _TOLERANCE  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
    if field_name == "correction_value" and isinstance(expected, str):
        return normalize_work(expected) == normalize_work(got)
    return expected == got


# --- aggregating -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    id: str
    kind: str
    field: str
    expected: object
    got: object
    text: str


@dataclass
class Tally:
    compared: int = 0
    correct: int = 0

    def add(self, ok: bool) -> None:
        self.compared += 1
        self.correct += ok

    @property
    def accuracy(self) -> float:
        return self.correct / self.compared if self.compared else 1.0


@dataclass
class KindTally:
    messages: int = 0
    all_correct: int = 0
    fields: Tally = field(default_factory=Tally)


@dataclass
class Report:
    messages: int = 0
    fields: Tally = field(default_factory=Tally)
    by_kind: dict[str, KindTally] = field(default_factory=dict)
    by_field: dict[str, Tally] = field(default_factory=dict)
    expected_tiers: dict[str, int] = field(default_factory=dict)
    crisis_found: int = 0
    urgent_found: int = 0
    false_crises: list[str] = field(default_factory=list)
    false_urgents: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (id, exception)
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.fields.accuracy

    @property
    def crisis_recall(self) -> float:
        n = self.expected_tiers.get("crisis", 0)
        return self.crisis_found / n if n else 1.0

    @property
    def urgent_recall(self) -> float:
        n = self.expected_tiers.get("urgent", 0)
        return self.urgent_found / n if n else 1.0


def observed(parsed: Any) -> dict[str, Any]:
    """A ParsedMessage (or anything with its attributes) as plain values keyed like `expect`."""

    def value(x: object) -> object:
        return getattr(x, "value", x)

    concern = value(getattr(parsed, "concern", None))
    correction = getattr(parsed, "correction", None)
    return {
        "intent": value(getattr(parsed, "intent", None)),
        "concern": _CONCERN_NAMES.get(str(concern), concern) if concern is not None else None,
        "health": getattr(parsed, "health", None),
        "sleep_hours": getattr(parsed, "sleep_hours", None),
        "temperature": getattr(parsed, "temperature", None),
        "stated_time": _hhmm(getattr(parsed, "stated_time", None)),
        "work": getattr(parsed, "work", None),
        "day_offset": getattr(parsed, "day_offset", 0),
        "consult": bool(getattr(parsed, "consult", False)),
        "correction_field": value(correction[0]) if correction else None,
        "correction_value": _hhmm(correction[1]) if correction else None,
    }


def score(messages: Iterable[Message], read: Reader) -> Report:
    """Read every message and compare with its expectations."""
    report = Report()
    for m in messages:
        expect = m.get("expect", {})
        scored = [f for f in FIELDS if f in ALWAYS or f in expect]
        try:
            got: Mapping[str, Any] = read(m)
            error = None
        except Exception as exc:  # a crashing reader scores as wrong, never stops the run
            error = f"{type(exc).__name__}: {exc}"
            report.errors.append((m["id"], error))
            got = {}
        kind = report.by_kind.setdefault(m["kind"], KindTally())
        kind.messages += 1
        report.messages += 1
        all_ok = True
        for f in scored:
            exp, val = expect.get(f), got.get(f)
            ok = error is None and same(f, exp, val)
            all_ok &= ok
            report.fields.add(ok)
            kind.fields.add(ok)
            report.by_field.setdefault(f, Tally()).add(ok)
            if not ok:
                shown = f"<error: {error}>" if error else val
                report.mismatches.append(Mismatch(m["id"], m["kind"], f, exp, shown, m["text"]))
        kind.all_correct += all_ok
        _tiers(report, m["id"], expect.get("concern"), None if error else got.get("concern"))
    return report


def _tiers(report: Report, mid: str, expected: object, got: object) -> None:
    if expected in TIERS:
        report.expected_tiers[str(expected)] = report.expected_tiers.get(str(expected), 0) + 1
    if expected == "crisis" and got == "crisis":
        report.crisis_found += 1
    if expected == "urgent" and got in ("urgent", "crisis"):
        report.urgent_found += 1
    if expected != "crisis" and got == "crisis":
        report.false_crises.append(mid)
    if expected not in ("urgent", "crisis") and got == "urgent":
        report.false_urgents.append(mid)


# --- the parser as a reader ------------------------------------------------------------------


def parser_reader() -> Reader:
    """bot.core.parsing with the process's analyser, as `score` expects it."""
    from bot.core import parsing
    from bot.services.nlp import analyser

    a = analyser()

    def read(m: Message) -> Mapping[str, Any]:
        text, step = m["text"], m.get("step")
        if step is None:
            return observed(parsing.parse_message(text, analyser=a, now=local_time(m)))
        return observed(parsing.parse_answer(step, text, analyser=a))

    return read
