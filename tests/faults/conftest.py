"""Fault tests reuse the LINE fixtures: the real app against a fake LINE API on loopback."""

from tests.line.conftest import fake_line, line

__all__ = ["fake_line", "line"]
