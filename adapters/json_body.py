"""Webhook bodies are JSON as RFC 8259 defines it.

Python's parser also takes `NaN`, `Infinity` and `-Infinity`. No platform sends them and
neither database's JSON type stores them, so a body holding one would fail its whole batch at
the insert (a 5xx for every request in it) instead of getting its own 400.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn


def _refuse(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not JSON")


def loads(body: bytes | str) -> Any:
    """`json.loads` without the non-standard constants (ValueError, like any malformed JSON)."""
    return json.loads(body, parse_constant=_refuse)
