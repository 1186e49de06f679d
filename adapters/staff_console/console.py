"""The console's request machinery: sign-in, CSRF and role checks around one transaction,
and the kind pages when something is refused (adapters/staff_console/web.py mounts it)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.staff_console import pages
from adapters.staff_console.security import COOKIE, COOKIE_PATH, Signer
from bot.core import texts
from bot.core.calendar import business_date
from bot.core.domain import ReportStatus, StaffRole
from bot.core.ports import Clock
from bot.core.provenance import local, staff_ref
from bot.queries import exports
from bot.services import admin, console_auth
from bot.services.admin import AdminError
from storage.db import Database
from storage.models import Facility, Member, Staff

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
NO_STORE = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # the sign-in page's address holds the link's token: never hand it on
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "media-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
NOTES = {
    "taken": texts.CONSOLE_ALERT_TAKEN,
    "resolved": texts.CONSOLE_ALERT_RESOLVED,
    "signed_off": texts.CONSOLE_SIGNED_OFF,
    "saved": texts.CONSOLE_SAVED,
}

FIELD_NOTES = {"edited": texts.CONSOLE_EDITED, "unchanged": texts.CONSOLE_UNCHANGED}


class ConsoleSettings(Protocol):
    @property
    def console_session_secret(self) -> SecretStr | None: ...
    @property
    def console_idle_minutes(self) -> int: ...


class Refused(Exception):
    """A page this staff member may not have, or a request that cannot be done: rolled back,
    answered with a kind page."""

    def __init__(self, status: int, message: str, *, audit: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.audit = status, message, audit


@dataclass
class Ctx:
    request: Request
    session: AsyncSession
    staff: Staff
    facility: Facility
    now: datetime
    csrf: str
    form: Mapping[str, str]

    @property
    def today(self) -> date:
        return business_date(self.facility.tz, self.now)

    @property
    def manager(self) -> bool:
        return self.staff.role == StaffRole.MANAGER.value

    async def audit(self, action: str, target: str, **detail: object) -> None:
        await admin.audit(
            self.session, actor=staff_ref(self.staff.id), action=action, target=target,
            now=self.now, **detail,
        )  # fmt: skip

    async def member(self, member_id: int) -> Member:
        """A member of this staff member's facility; any other id is "not found"."""
        member = await self.session.get(Member, member_id)
        if member is None or member.facility_id != self.facility.id:
            raise Refused(404, texts.CONSOLE_NOT_FOUND, audit=True)
        return member


Work = Callable[[Ctx], Awaitable[Response]]


class Console:
    def __init__(
        self, settings: ConsoleSettings, db: Database, clock: Clock, secret: bytes
    ) -> None:
        self.db, self.clock = db, clock
        self.idle = timedelta(minutes=max(1, settings.console_idle_minutes))
        self.signer = Signer(secret)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = self.templates.env
        env.globals.update(
            texts=texts, Status=ReportStatus, kind_labels=exports.KIND_LABELS,
            kind_titles=texts.CONSOLE_EXPORT_KINDS, WEEKDAYS=pages.WEEKDAYS,
            day_title=pages.day_title, month_title=pages.month_title,
            field_rows=pages.field_rows, revision_value=pages.revision_value,
        )  # fmt: skip
        env.filters["local"] = local
        env.filters["hhmm"] = pages.hhmm

    # --- rendering ------------------------------------------------------------------------

    def render(self, request: Request, template: str, status: int = 200, **values: Any) -> Response:
        response = self.templates.TemplateResponse(
            request, template, {"ctx": None, **values}, status_code=status
        )
        response.headers.update(NO_STORE)
        return response

    def message(
        self, request: Request, status: int, text: str, *, how: bool = False, clear: bool = False
    ) -> Response:
        response = self.render(request, "message.html", status, text=text, how=how)
        if clear:
            response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response

    def page(self, ctx: Ctx, template: str, status: int = 200, **values: Any) -> Response:
        """A signed-in page; `?note=` after a change says what was done."""
        query = ctx.request.query_params
        note = NOTES.get(query.get("note", ""))
        field = query.get("field", "")
        if query.get("note") in FIELD_NOTES and field in texts.FIELD_LABELS:
            note = FIELD_NOTES[query["note"]].format(label=texts.FIELD_LABELS[field])
        return self.render(ctx.request, template, status, ctx=ctx, note=note, **values)

    # --- one request ----------------------------------------------------------------------

    async def run(self, request: Request, work: Work, *, manager: bool = False) -> Response:
        """Sign-in, CSRF and role checks, then `work` in the same transaction."""
        token = self.signer.token_of(request.cookies.get(COOKIE))
        form: dict[str, str] = {}
        if request.method == "POST":
            raw = await request.form()
            form = {k: v for k, v in raw.items() if isinstance(v, str)}
        now = self.clock()
        staff_id: int | None = None
        try:
            async with self.db.transaction(actor="console") as session:
                staff = (
                    await console_auth.signed_in(session, token, now, idle=self.idle)
                    if token
                    else None
                )
                if staff is None or token is None:  # committed: a stale session is ended
                    text = texts.CONSOLE_SESSION_ENDED if token else texts.CONSOLE_NOT_SIGNED_IN
                    return self.message(request, 401, text, how=True, clear=token is not None)
                staff_id = staff.id
                session.info["actor"] = staff_ref(staff.id)
                if request.method == "POST" and not self.signer.csrf_ok(token, form.get("csrf")):
                    raise Refused(403, texts.CONSOLE_CSRF, audit=True)
                if manager and staff.role != StaffRole.MANAGER.value:
                    raise Refused(403, texts.CONSOLE_MANAGERS_ONLY, audit=True)
                facility = await session.get_one(Facility, staff.facility_id)
                ctx = Ctx(request, session, staff, facility, now, self.signer.csrf(token), form)
                return await work(ctx)
        except Refused as refused:
            if refused.audit and staff_id is not None:
                async with self.db.transaction(actor=staff_ref(staff_id)) as session:
                    await admin.audit(
                        session, actor=staff_ref(staff_id), action="console.refused",
                        target=request.url.path, now=now, status=refused.status,
                    )  # fmt: skip
            return self.message(request, refused.status, refused.message)

    def signed_in_response(self, request: Request, session_token: str) -> Response:
        response = RedirectResponse("/console/", status_code=303)
        response.set_cookie(
            COOKIE,
            self.signer.cookie(session_token),
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response


def int_or_none(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def day_or_404(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Refused(404, texts.CONSOLE_NOT_FOUND) from None


def month_or_404(text: str | None, today: date) -> date:
    if not text:
        return today.replace(day=1)
    try:
        return exports.parse_month(text)
    except AdminError:
        raise Refused(404, texts.CONSOLE_NOT_FOUND) from None


def see_page(path: str, note: str) -> Response:
    return RedirectResponse(f"{path}?note={note}", status_code=303)
