"""Ingest tests reuse the LINE fixtures: the real app against the fake LINE API."""

from tests.line.conftest import fake_line, line

__all__ = ["fake_line", "line"]
