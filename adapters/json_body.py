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


_DECODER = json.JSONDecoder(parse_constant=_refuse)  # one for all: json.loads builds one a call


def loads(body: bytes | str) -> Any:
    """`json.loads` of UTF-8 without the non-standard constants: ValueError (UnicodeDecodeError
    included) like any malformed JSON."""
    return _DECODER.decode(body.decode("utf-8") if isinstance(body, bytes) else body)
