"""The Slack rig (real app, fake Slack Web API, signed requests) for the safety-net tests."""

from tests.slack.conftest import rig  # noqa: F401
