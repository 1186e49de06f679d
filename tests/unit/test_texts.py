"""The message catalogue: every name once (a merge must never shadow a sentence silently)."""

from __future__ import annotations

import ast
import collections
from pathlib import Path

import bot.core.texts


def test_every_message_name_is_defined_once() -> None:
    tree = ast.parse(Path(bot.core.texts.__file__).read_text(encoding="utf-8"))
    names = [
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    ]
    assert [n for n, c in collections.Counter(names).items() if c > 1] == []


def test_member_facing_sentences_are_polite_japanese() -> None:
    for name in ("MORNING", "ASK_HEALTH", "ABSENCE", "LINK_PROMPT", "HELP", "STALE_BUTTON"):
        text = getattr(bot.core.texts, name)
        assert any(end in text for end in ("ます", "です", "さい", "か?")), name
        assert "!" not in text and "エラー" not in text, name  # never scolds or alarms
