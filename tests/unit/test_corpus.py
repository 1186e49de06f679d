"""The parser against the corpus of members' messages (tests/corpus/messages.jsonl).

The expectations are what a careful staff member would record, written before and apart from
the parser; bench/corpus.py prints the same figures with every mismatch (--failures).
"""

from __future__ import annotations

from collections import Counter

import pytest

from bench.corpus_score import CORPUS, Report, load, parser_reader, score


@pytest.fixture(scope="module")
def messages() -> list[dict[str, object]]:
    return load(CORPUS)


@pytest.fixture(scope="module")
def report(messages: list[dict[str, object]]) -> Report:
    return score(messages, parser_reader())


def test_corpus_is_large_and_covers_every_concern_tier(messages: list[dict[str, object]]) -> None:
    assert len(messages) >= 300
    tiers = Counter(m["expect"].get("concern") for m in messages)  # type: ignore[attr-defined]
    for tier in ("crisis", "urgent", "watch"):
        assert tiers[tier] >= 40, tier
    benign = [m for m in messages if m["kind"] == "benign"]
    assert len(benign) >= 40
    assert all(m["expect"]["concern"] != "crisis" for m in benign)  # type: ignore[index]


def _failures(report: Report, limit: int = 40) -> str:
    lines = [
        f"{x.id} {x.field}: expected {x.expected!r}, got {x.got!r}  {x.text}"
        for x in report.mismatches[:limit]
    ]
    return "\n".join(lines)


def test_field_accuracy(report: Report) -> None:
    assert report.accuracy >= 0.97, (
        f"{report.fields.correct}/{report.fields.compared} fields right\n{_failures(report)}"
    )


def test_every_crisis_is_recognised(report: Report) -> None:
    missed = [x.id for x in report.mismatches if x.field == "concern" and x.expected == "crisis"]
    assert report.crisis_recall == 1.0, missed


def test_every_urgent_message_is_recognised(report: Report) -> None:
    missed = [
        x.id
        for x in report.mismatches
        if x.field == "concern" and x.expected == "urgent" and x.got not in ("urgent", "crisis")
    ]
    assert report.urgent_recall == 1.0, missed


def test_no_false_crisis(report: Report) -> None:
    assert report.false_crises == [], report.false_crises


def test_reader_never_crashes(report: Report) -> None:
    assert report.errors == []
