"""The `nippo` command: every concern's commands registered on one Typer app.

Each module under bot/cli/ adds its commands to the apps in `bot.cli.base` when imported;
importing them all here (and only here) keeps the package free of import cycles.
"""

from __future__ import annotations

import logging

from bot.cli import (  # noqa: F401  (imported for the commands they register)
    admin,
    audit,
    data,
    days,
    doctor,
    inbox,
    line,
    members,
    records,
    run,
    settings,
)
from bot.cli.base import app

__all__ = ["app", "main"]


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    app()
