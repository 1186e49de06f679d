"""Fault tests reuse the LINE and Slack fixtures: the real app against fake platform APIs."""

from tests.line.conftest import fake_line, line
from tests.slack.conftest import rig

__all__ = ["fake_line", "line", "rig"]
