"""The platform registry: the front doors this process has, built from settings.

A platform is one adapter package whose `plugin.py` has an `ENTRY` (adapters/plugin.py: the
settings it needs, how its plug-in is built, how its routes mount) and one line in `REGISTRY`
below. Everything else (the inbox passes, the senders, the scheduler) reads the
registry, never a platform's name. docs/architecture.md shows a new platform's skeleton.
"""

from __future__ import annotations

from adapters.line import plugin as line
from adapters.plugin import Entry
from adapters.slack import plugin as slack
from bot.app.settings import Settings
from bot.services.platforms import Platforms
from storage.db import Database

# --- the registry: one line per platform ---------------------------------------------------

REGISTRY: tuple[Entry, ...] = (line.ENTRY, slack.ENTRY)


def build_platforms(settings: Settings, db: Database) -> Platforms:
    """The plug-in of every platform whose settings are all given, by name."""
    return {
        entry.name: entry.build(settings, db)
        for entry in REGISTRY
        if all(entry.credentials(settings).values())
    }
