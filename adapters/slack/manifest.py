"""The Slack app manifest (`slack/manifest.yml`): the one list of the bot token's scopes.

`nippo doctor` asks Slack for the scopes the installed app was given and compares them with
this list; the manifest is what operators paste into Slack, so the two cannot drift apart.
tests/slack/test_manifest.py checks the list against the Web API methods the code calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "slack" / "manifest.yml"


def load(path: Path = MANIFEST) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a Slack app manifest")
    return data


def bot_scopes(path: Path = MANIFEST) -> tuple[str, ...]:
    """The bot token scopes the manifest asks for, in its order."""
    return tuple(str(s) for s in load(path)["oauth_config"]["scopes"]["bot"])
