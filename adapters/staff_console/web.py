"""The staff console under /console: server-rendered pages (Jinja2), plain forms.

Every page runs in one transaction through `Console.run`: the signed cookie names a session
(bot/services/console_auth.py), the session names a staff member, and the staff member's
facility bounds everything the page may read or change; a POST needs the session's CSRF token;
manager pages refuse staff. Views are written to the audit log here; changes go through the
use cases (records, alert actions, admin), whose writes the audit chain records under
`staff:ID`. Pages work without JavaScript; the board refreshes itself every minute.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from adapters.staff_console import evaluation_routes, routes, settings_routes
from adapters.staff_console.console import HERE, Console, ConsoleSettings
from bot.core.ports import Clock
from storage.db import Database

log = logging.getLogger(__name__)


def session_secret(settings: ConsoleSettings) -> bytes:
    if settings.console_session_secret is not None:
        return settings.console_session_secret.get_secret_value().encode()
    log.warning(
        "CONSOLE_SESSION_SECRET is not set: console sign-ins last until this process stops "
        "(set it to keep them across restarts and replicas; docs/console.md)"
    )
    return secrets.token_bytes(32)


def mount(app: FastAPI, settings: ConsoleSettings, db: Database, clock: Clock) -> None:
    """The console's routes and its static files under /console."""
    console = Console(settings, db, clock, session_secret(settings))
    app.include_router(routes.router(console))
    app.include_router(settings_routes.router(console))
    app.include_router(evaluation_routes.router(console))
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
