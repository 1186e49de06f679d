"""The console's settings pages, for managers: the facility's settings, a member's weekly
schedule, consent, approval period, emergency contacts and 担当, and the staff. Each change goes
through the same use case as its `nippo` command (`admin.update_facility` for `nippo facility
set`, `admin.set_schedule` for `nippo schedule set`, `consent.record` for `nippo member consent`
…) and is written to the audit log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from datetime import date, time
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from adapters.staff_console.console import Console, Ctx, Refused, int_or_none, see_page
from bot.core import texts
from bot.core.domain import DayMode
from bot.core.hours import BusinessHours
from bot.core.policy import Ladder
from bot.core.provenance import staff_ref
from bot.services import admin, consent, records
from bot.services import emergency_contacts as contacts
from bot.services.admin import WEEKDAYS, AdminError
from storage.models import Member, Schedule, Staff


class Page(Protocol):
    """A settings page, shown again with why when a change is refused."""

    def __call__(
        self, ctx: Ctx, status: int = 200, error: str | None = None
    ) -> Awaitable[Response]: ...


@dataclass(frozen=True)
class LadderRow:
    key: str
    label: str
    default: int
    value: str  # the facility's own value, "" when it uses the default


@dataclass(frozen=True)
class WeekdayRow:
    index: int
    key: str  # mon … sun
    label: str  # 月 … 日
    mode: str
    start: str
    end: str


def _ladder_rows(ladder: dict[str, Any] | None) -> list[LadderRow]:
    own, defaults = ladder or {}, Ladder()
    return [
        LadderRow(
            f.name,
            texts.CONSOLE_LADDER_LABELS.get(f.name, f.name),
            getattr(defaults, f.name),
            str(own[f.name]) if f.name in own else "",
        )
        for f in fields(Ladder)
    ]


def parse_date(text: str) -> date:
    """A date from a form (`<input type=date>` sends YYYY-MM-DD)."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise AdminError(texts.SLACK_BAD_DATE) from None


def _hhmm(t: time | None) -> str:
    return t.strftime("%H:%M") if t else ""


def facility_changes(form: dict[str, str], ladder: dict[str, Any] | None) -> admin.FacilityChanges:
    """The form as `nippo facility set` options: an emptied ladder field goes back to its
    default, an empty contact list to the national lines."""
    contacts = [line.strip() for line in form.get("crisis_contacts", "").splitlines()]
    steps = []
    for row in _ladder_rows(ladder):
        given = form.get(f"ladder_{row.key}", "").strip()
        if given:
            steps.append(f"{row.key}={given}")
        elif row.value:
            steps.append(f"{row.key}=default")
    grace = form.get("late_entry_grace_hours", "").strip()
    try:
        grace_hours = int(grace) if grace else None
    except ValueError as exc:
        raise AdminError(f"--late-grace-hours is a whole number of hours, not {grace!r}") from exc
    return admin.FacilityChanges(
        crisis_contacts=[c for c in contacts if c] or ["none"],
        business_hours=f"{form.get('opens', '')}-{form.get('closes', '')}",
        business_days=",".join(d for d in WEEKDAYS if form.get(f"day_{d}")),
        ladder=steps,
        alert_channel=form.get("alert_channel", ""),
        ask_temperature=bool(form.get("ask_temperature")),
        disclosure=form.get("disclosure"),
        late_entry_grace_hours=grace_hours,
        office_no=form.get("office_no", ""),
    )


async def _schedule_rows(ctx: Ctx, member: Member) -> list[WeekdayRow]:
    stmt = select(Schedule).where(Schedule.member_id == member.id)
    rows = {s.weekday: s for s in (await ctx.session.execute(stmt)).scalars()}
    out = []
    for i, key in enumerate(WEEKDAYS):
        s = rows.get(i)
        out.append(
            WeekdayRow(
                i, key, texts.WEEKDAY_NAMES[i], s.mode if s else DayMode.OFF.value,
                _hhmm(s.start) if s else "", _hhmm(s.end) if s else "",
            )
        )  # fmt: skip
    return out


def parse_optional_date(text: str | None) -> date | None:
    """An optional date field: empty keeps what is stored."""
    return parse_date(text) if text and text.strip() else None


def picked_covers(form: Mapping[str, str]) -> frozenset[str]:
    """The consent form's checkboxes (`cover_records` …) as `consent` terms; one at least."""
    covers = frozenset(c for c in consent.COVERS if form.get(f"cover_{c}"))
    if not covers:
        raise AdminError(texts.CONSOLE_CONSENT_PICK)
    return covers


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix="/console", include_in_schema=False)

    async def changed(
        request: Request,
        apply: Callable[[Ctx], Awaitable[str]],
        page: Page,
    ) -> Response:
        """Apply a change in a savepoint; on a mistake, the page again with why (nothing
        kept), else back to the page with a note."""

        async def work(ctx: Ctx) -> Response:
            try:
                async with ctx.session.begin_nested():
                    path = await apply(ctx)
            except AdminError as exc:
                return await page(ctx, 400, texts.CONSOLE_NOT_ACCEPTED.format(reason=exc))
            return see_page(path, "saved")

        return await console.run(request, work, manager=True)

    # --- the facility ---------------------------------------------------------------------

    async def facility_page(ctx: Ctx, status: int = 200, error: str | None = None) -> Response:
        f = ctx.facility
        hours = BusinessHours.from_json(f.business_hours)
        await ctx.audit("console.settings", f"facility:{f.id}")
        return console.page(
            ctx, "settings.html", status, error=error, hours=hours, weekdays=WEEKDAYS,
            weekday_names=texts.WEEKDAY_NAMES, ladder=_ladder_rows(f.ladder),
            contacts="\n".join(
                "|".join((c["name"], c["phone"], c.get("hours", ""))).rstrip("|")
                for c in f.crisis_contacts or []
            ),
            disclosures=admin.DISCLOSURES,
            closures=await admin.closures(ctx.session, f, ctx.today),
        )  # fmt: skip

    @r.get("/settings")
    async def settings_page(request: Request) -> Response:
        return await console.run(request, facility_page, manager=True)

    @r.post("/settings")
    async def settings_save(request: Request) -> Response:
        async def apply(ctx: Ctx) -> str:
            admin.update_facility(
                ctx.facility, facility_changes(dict(ctx.form), ctx.facility.ladder)
            )
            await ctx.audit("facility.set", f"facility:{ctx.facility.id}")
            return "/console/settings"

        return await changed(request, apply, facility_page)

    @r.post("/settings/closures")
    async def closure_add(request: Request) -> Response:
        async def apply(ctx: Ctx) -> str:
            day = parse_date(ctx.form.get("day", ""))
            await admin.add_closure(ctx.session, ctx.facility, day, ctx.form.get("note"))
            return "/console/settings"

        return await changed(request, apply, facility_page)

    @r.post("/settings/closures/remove")
    async def closure_remove(request: Request) -> Response:
        async def apply(ctx: Ctx) -> str:
            day = parse_date(ctx.form.get("day", ""))
            await admin.remove_closure(ctx.session, ctx.facility, day)
            return "/console/settings"

        return await changed(request, apply, facility_page)

    # --- a member's weekly schedule, one-off days, the end of the service ------------------

    def member_page(member_id: int) -> Page:
        async def page(ctx: Ctx, status: int = 200, error: str | None = None) -> Response:
            member = await ctx.member(member_id)
            await ctx.audit("console.member_settings", f"member:{member.id}")
            stmt = select(Staff).where(Staff.facility_id == ctx.facility.id).order_by(Staff.id)
            everyone = (await ctx.session.execute(stmt)).scalars().all()
            rows = (await consent.rows_of(ctx.session, [member.id]))[member.id]
            return console.page(
                ctx, "member_settings.html", status, error=error, member=member,
                week=await _schedule_rows(ctx, member), modes=texts.DAY_MODE_LABELS,
                one_off=await admin.one_off_days(ctx.session, member, ctx.today),
                consent_rows=rows, cover_labels=consent.COVER_LABELS,
                consent_now=consent.labels(await consent.current_covers(ctx.session, member.id)),
                staff_names={s.id: s.name for s in everyone},
                active_staff=[s for s in everyone if s.active],
                approval_kinds=texts.APPROVAL_KINDS, contact_labels=contacts.LABELS,
                contacts=contacts.contacts_of(member),
            )  # fmt: skip

        return page

    @r.get("/members/{member_id}/settings")
    async def member_settings(request: Request, member_id: int) -> Response:
        return await console.run(request, member_page(member_id), manager=True)

    @r.post("/members/{member_id}/schedule")
    async def schedule_save(request: Request, member_id: int) -> Response:
        async def apply(ctx: Ctx) -> str:
            member = await ctx.member(member_id)
            groups: dict[tuple[str, str, str], list[str]] = {}
            for key in WEEKDAYS:
                mode = ctx.form.get(f"mode_{key}", DayMode.OFF.value)
                start = ctx.form.get(f"start_{key}", "") if mode != DayMode.OFF.value else ""
                end = ctx.form.get(f"end_{key}", "") if mode != DayMode.OFF.value else ""
                groups.setdefault((mode, start, end), []).append(key)
            specs = [
                admin.parse_schedule(",".join(days), mode, start or None, end or None)
                for (mode, start, end), days in groups.items()
            ]  # every weekday checked before any is written
            for spec in specs:
                await admin.set_schedule(ctx.session, member, spec)
            await ctx.audit("schedule.set", f"member:{member.id}")
            return f"/console/members/{member.id}/settings"

        return await changed(request, apply, member_page(member_id))

    @r.post("/members/{member_id}/one-off")
    async def one_off_add(request: Request, member_id: int) -> Response:
        async def apply(ctx: Ctx) -> str:
            member, f = await ctx.member(member_id), ctx.form
            await admin.set_day(
                ctx.session, member, parse_date(f.get("day", "")), f.get("mode", ""),
                f.get("start") or None, f.get("end") or None, f.get("note"),
            )  # fmt: skip
            return f"/console/members/{member.id}/settings"

        return await changed(request, apply, member_page(member_id))

    @r.post("/members/{member_id}/one-off/remove")
    async def one_off_remove(request: Request, member_id: int) -> Response:
        async def apply(ctx: Ctx) -> str:
            member = await ctx.member(member_id)
            await admin.clear_day(ctx.session, member, parse_date(ctx.form.get("day", "")))
            return f"/console/members/{member.id}/settings"

        return await changed(request, apply, member_page(member_id))

    @r.post("/members/{member_id}/tasks")
    async def tasks(request: Request, member_id: int) -> Response:
        async def apply(ctx: Ctx) -> str:
            member = await ctx.member(member_id)
            admin.set_usual_tasks(member, ctx.form.get("tasks", "").splitlines())
            return f"/console/members/{member.id}/settings"

        return await changed(request, apply, member_page(member_id))

    @r.post("/members/{member_id}/deactivate")
    async def deactivate(request: Request, member_id: int) -> Response:
        async def apply(ctx: Ctx) -> str:
            member = await ctx.member(member_id)
            if not ctx.form.get("confirm"):
                raise AdminError(texts.CONSOLE_CONFIRM_NEEDED)
            admin.set_active(member, False)
            await ctx.audit("member.deactivate", f"member:{member.id}")
            return f"/console/members/{member.id}/settings"

        return await changed(request, apply, member_page(member_id))

    # --- a member's consent, approval period, emergency contacts and 担当 ------------------

    def member_change(path: str, change: Callable[[Ctx, Member], Awaitable[None]]) -> None:
        """A member form: `change` makes it through the use case, then back to the page."""

        async def endpoint(request: Request, member_id: int) -> Response:
            async def apply(ctx: Ctx) -> str:
                member = await ctx.member(member_id)
                await change(ctx, member)
                return f"/console/members/{member.id}/settings"

            return await changed(request, apply, member_page(member_id))

        r.add_api_route(f"/members/{{member_id}}/{path}", endpoint, methods=["POST"])

    async def taken_by(ctx: Ctx) -> Staff:
        """The staff member the form names (one of this facility's), else the one signed in."""
        picked = int_or_none(ctx.form.get("staff"))
        return await _staff(ctx, picked) if picked is not None else ctx.staff

    async def consent_record(ctx: Ctx, member: Member) -> None:
        covers, day = picked_covers(ctx.form), parse_date(ctx.form.get("day", ""))
        await consent.record(
            ctx.session, ctx.facility, member, covers=covers, given_on=day,
            staff=await taken_by(ctx), now=ctx.now,
        )  # fmt: skip
        await ctx.audit(
            "consent.record", f"member:{member.id}", covers=consent.ordered(covers),
            given_on=day.isoformat(),
        )  # fmt: skip

    async def consent_withdraw(ctx: Ctx, member: Member) -> None:
        covers, day = picked_covers(ctx.form), parse_date(ctx.form.get("day", ""))
        await consent.withdraw(
            ctx.session, ctx.facility, member, covers=covers, on=day,
            staff=await taken_by(ctx), now=ctx.now,
        )  # fmt: skip
        await ctx.audit(
            "consent.withdraw", f"member:{member.id}", covers=consent.ordered(covers),
            on=day.isoformat(),
        )  # fmt: skip

    async def approval(ctx: Ctx, member: Member) -> None:
        f = ctx.form
        admin.set_approval(
            member, parse_optional_date(f.get("approval_from")),
            parse_optional_date(f.get("approval_until")), f.get("approval_kind") or None,
        )  # fmt: skip
        await ctx.audit("member.approval", f"member:{member.id}")

    async def contact_add(ctx: Ctx, member: Member) -> None:
        f = ctx.form
        contact = contacts.make(f.get("label", ""), f.get("name"), f.get("phone"), f.get("note"))
        number = contacts.add(member, contact, now=ctx.now, by=staff_ref(ctx.staff.id))
        await ctx.audit("emergency_contact.add", f"member:{member.id}", number=number)

    async def contact_remove(ctx: Ctx, member: Member) -> None:
        number = int_or_none(ctx.form.get("number")) or 0
        contacts.remove(member, number)
        await ctx.audit("emergency_contact.remove", f"member:{member.id}", number=number)

    async def assign(ctx: Ctx, member: Member) -> None:
        primary, substitute = (
            int_or_none(ctx.form.get("primary")),
            int_or_none(ctx.form.get("substitute")),
        )
        if primary is None:
            raise AdminError(texts.CONSOLE_ASSIGN_PICK)
        sub = await _staff(ctx, substitute) if substitute is not None else None
        await records.assign_staff(ctx.session, member, await _staff(ctx, primary), sub)
        await ctx.audit(
            "member.assign", f"member:{member.id}", primary=primary, substitute=substitute
        )

    member_change("consent", consent_record)
    member_change("consent/withdraw", consent_withdraw)
    member_change("approval", approval)
    member_change("emergency-contacts", contact_add)
    member_change("emergency-contacts/remove", contact_remove)
    member_change("assign", assign)

    # --- staff ----------------------------------------------------------------------------

    async def staff_page(ctx: Ctx, status: int = 200, error: str | None = None) -> Response:
        stmt = select(Staff).where(Staff.facility_id == ctx.facility.id, Staff.active.is_(True))
        people = (await ctx.session.execute(stmt.order_by(Staff.id))).scalars().all()
        await ctx.audit("console.staff", f"facility:{ctx.facility.id}")
        return console.page(ctx, "staff.html", status, error=error, people=people)

    async def _staff(ctx: Ctx, staff_id: int) -> Staff:
        staff = await ctx.session.get(Staff, staff_id)
        if staff is None or staff.facility_id != ctx.facility.id or not staff.active:
            raise Refused(404, texts.CONSOLE_NOT_FOUND, audit=True)
        return staff

    @r.get("/staff")
    async def staff_list(request: Request) -> Response:
        return await console.run(request, staff_page, manager=True)

    @r.post("/staff")
    async def staff_add(request: Request) -> Response:
        async def apply(ctx: Ctx) -> str:
            f = ctx.form
            await admin.add_staff(
                ctx.session, ctx.facility, name=f.get("name", ""),
                slack_user=f.get("slack_user"), role=f.get("role", ""), now=ctx.now,
            )  # fmt: skip
            return "/console/staff"

        return await changed(request, apply, staff_page)

    @r.post("/staff/{staff_id}/role")
    async def staff_role(request: Request, staff_id: int) -> Response:
        async def apply(ctx: Ctx) -> str:
            staff = await _staff(ctx, staff_id)
            if staff.id == ctx.staff.id:
                raise AdminError(texts.CONSOLE_NOT_YOURSELF)
            admin.set_role(staff, ctx.form.get("role", ""))
            return "/console/staff"

        return await changed(request, apply, staff_page)

    @r.post("/staff/{staff_id}/remove")
    async def staff_remove(request: Request, staff_id: int) -> Response:
        async def apply(ctx: Ctx) -> str:
            staff = await _staff(ctx, staff_id)
            if staff.id == ctx.staff.id:
                raise AdminError(texts.CONSOLE_NOT_YOURSELF)
            admin.set_active(staff, False)
            return "/console/staff"

        return await changed(request, apply, staff_page)

    return r
