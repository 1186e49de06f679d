"""The morphological analyser Nippo runs: SudachiPy with its core dictionary.

Why Sudachi and not fugashi + unidic-lite is in docs/architecture.md (measured by
bench/analysers.py). The dictionary is loaded once per process (`analyser()`), and a tokenizer
is not safe to share between threads, so each thread gets its own.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from sudachipy import Dictionary, SplitMode

from bot.core.ports import Analyser, Morpheme

MAX_CHARS = 2000  # Sudachi refuses inputs over ~49 KB; a check-in is never this long


class SudachiAnalyser:
    def __init__(self) -> None:
        self._dictionary = Dictionary(dict="core")
        self._local = threading.local()

    def analyse(self, text: str) -> tuple[Morpheme, ...]:
        tokenizer = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            tokenizer = self._local.tokenizer = self._dictionary.tokenizer(mode=SplitMode.C)
        return tuple(
            Morpheme(m.surface(), m.normalized_form(), m.part_of_speech()[0], m.reading_form())
            for m in tokenizer.tokenize(text[:MAX_CHARS])
        )


@lru_cache(maxsize=1)
def analyser() -> Analyser:
    """The process's analyser (the dictionary is memory-mapped once)."""
    return SudachiAnalyser()
