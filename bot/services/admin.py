"""Use cases for operators: facilities, members, staff, schedules, link codes."""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import compliance, texts
from bot.core.domain import DayMode, StaffRole
from bot.core.hours import BusinessHours, crisis_contacts_from_json
from bot.core.policy import Ladder
from storage import audit_chain, repo
from storage.models import (
    Facility,
    FacilityClosure,
    LinkCode,
    Member,
    Schedule,
    ScheduleException,
    Staff,
)

LINK_CODE_TTL = timedelta(hours=24)
PROFILES = ("national", "higashiosaka", "hitachi", "sapporo")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
T = TypeVar("T")


class AdminError(Exception):
    """A mistake in what the operator asked; the message says what to do."""


async def init_facility(
    session: AsyncSession,
    *,
    name: str,
    now: datetime,
    profile: str = "national",
    capacity: int | None = None,
    alert_channel: str | None = None,
    tz: str = "Asia/Tokyo",
) -> Facility:
    if profile not in PROFILES:
        raise AdminError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise AdminError(f"unknown time zone {tz!r}") from exc
    existing = (
        await session.execute(select(Facility).where(Facility.name == name))
    ).scalar_one_or_none()
    if existing is not None:
        raise AdminError(f"facility {name!r} exists already")
    facility = Facility(
        name=name,
        tz=tz,
        profile=profile,
        capacity=capacity,
        alert_channel=alert_channel,
        default_start=time(10, 0),
        default_end=time(15, 0),
        ask_temperature=False,
        ladder={},
        disclosure="full",
        business_hours={},
        crisis_contacts=[],
        created_at=now,
    )
    session.add(facility)
    await session.flush()
    return facility


DISCLOSURES = ("full", "minimal")
MAX_LATE_GRACE_HOURS = 24 * 7  # a week: beyond it, 事後記録 would mean nothing
AHEAD_ALLOWED = ("start_reminder", "end_reminder")  # may be negative: remind ahead of time
PHONE = re.compile(r"\+?[0-9][0-9()\- ]{1,30}")


@dataclass(frozen=True)
class FacilityChanges:
    """What `nippo facility set` was asked to change (None: leave as it is)."""

    crisis_contacts: Sequence[str] | None = None  # "名前|電話番号|受付時間"; ["none"]: national
    business_hours: str | None = None  # "09:00-18:00"
    business_days: str | None = None  # "mon,tue,wed,thu,fri"
    ladder: Sequence[str] = ()  # "KEY=MINUTES"
    alert_channel: str | None = None
    ask_temperature: bool | None = None
    disclosure: str | None = None
    late_entry_grace_hours: int | None = None  # after this, an entry is a 事後記録
    office_no: str | None = None  # 事業所番号 (10 digits, on 様式在-1); "" or "none" clears it


def update_facility(facility: Facility, changes: FacilityChanges) -> None:
    """Validate everything first, then apply: a bad value changes nothing."""
    contacts = (
        parse_contacts(changes.crisis_contacts) if changes.crisis_contacts is not None else None
    )
    hours = _business_hours(facility, changes.business_hours, changes.business_days)
    ladder = parse_ladder(facility.ladder, changes.ladder)
    if changes.disclosure is not None and changes.disclosure not in DISCLOSURES:
        raise AdminError(f"--disclosure is {' or '.join(DISCLOSURES)}, not {changes.disclosure!r}")
    grace = changes.late_entry_grace_hours
    if grace is not None and not 0 <= grace <= MAX_LATE_GRACE_HOURS:
        raise AdminError(f"--late-grace-hours is 0 to {MAX_LATE_GRACE_HOURS}, not {grace}")
    office_no = parse_office_no(changes.office_no)
    if contacts is not None:
        facility.crisis_contacts = contacts
    if hours is not None:
        facility.business_hours = hours
    facility.ladder = ladder
    if changes.alert_channel is not None:
        facility.alert_channel = changes.alert_channel.strip() or None
    if changes.ask_temperature is not None:
        facility.ask_temperature = changes.ask_temperature
    if changes.disclosure is not None:
        facility.disclosure = changes.disclosure
    if grace is not None:
        facility.late_entry_grace_hours = grace
    if changes.office_no is not None:
        facility.office_no = office_no


OFFICE_NO = re.compile(r"[0-9]{10}")


def parse_office_no(text: str | None) -> str | None:
    """A 事業所番号 as the city assigned it (10 digits); "" or "none" for no number."""
    value = (text or "").strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if value.lower() in ("", "none"):
        return None
    if not OFFICE_NO.fullmatch(value):
        raise AdminError(f"--office-no is the 10-digit 事業所番号, not {text!r}")
    return value


def parse_contacts(items: Sequence[str]) -> list[dict[str, str]]:
    """「名前|電話番号|受付時間」 each; a single "none" goes back to the national lines."""
    if [i.strip().lower() for i in items] == ["none"]:
        return []
    out = []
    for item in items:
        parts = [p.strip() for p in item.split("|")]
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise AdminError(f"a crisis contact is 名前|電話番号|受付時間, not {item!r}")
        if not PHONE.fullmatch(parts[1]) or sum(c.isdigit() for c in parts[1]) < 3:
            raise AdminError(f"{parts[1]!r} does not look like a phone number (e.g. 0120-279-338)")
        out.append(
            {"name": parts[0], "phone": parts[1], "hours": parts[2] if len(parts) == 3 else ""}
        )
    return out


def _business_hours(
    facility: Facility, span: str | None, days: str | None
) -> dict[str, object] | None:
    if span is None and days is None:
        return None
    current = BusinessHours.from_json(facility.business_hours).to_json()
    if span is not None:
        opens, sep, closes = span.partition("-")
        start, end = _hhmm(opens.strip()), _hhmm(closes.strip())
        if not sep or start is None or end is None:
            raise AdminError(f"--business-hours is HH:MM-HH:MM (e.g. 09:00-18:00), not {span!r}")
        if end <= start:
            raise AdminError("--business-hours must close after it opens (e.g. 09:00-18:00)")
        current["opens"], current["closes"] = start.strftime("%H:%M"), end.strftime("%H:%M")
    if days is not None:
        names = [d.strip().lower() for d in days.split(",") if d.strip()]
        bad = [d for d in names if d not in WEEKDAYS]
        if bad or not names:
            raise AdminError(f"--business-days are mon,tue,wed,thu,fri,sat,sun, not {days!r}")
        current["weekdays"] = [d for d in WEEKDAYS if d in names]
    return current


def parse_ladder(current: dict[str, object] | None, items: Sequence[str]) -> dict[str, object]:
    """Merge KEY=MINUTES overrides into the facility's ladder (KEY=default drops one)."""
    names = [f.name for f in fields(Ladder)]
    out = dict(current or {})
    for item in items:
        key, sep, value = (p.strip() for p in item.partition("="))
        if not sep or key not in names:
            raise AdminError(f"--ladder is KEY=MINUTES with KEY one of {', '.join(names)}")
        if value == "default":
            out.pop(key, None)
            continue
        try:
            minutes = int(value)
        except ValueError as exc:
            raise AdminError(f"--ladder {key}: minutes are a whole number, not {value!r}") from exc
        if minutes < 0 and key not in AHEAD_ALLOWED:
            raise AdminError(f"--ladder {key}: minutes cannot be negative")
        if key == "evaluation_hour" and minutes > 23:
            raise AdminError("--ladder evaluation_hour is an hour of the day (0-23)")
        out[key] = minutes
    return out


def describe_facility(facility: Facility) -> list[str]:
    """The settings as the operator sees them after a change (ids and settings, no members)."""
    hours = BusinessHours.from_json(facility.business_hours)
    contacts = crisis_contacts_from_json(facility.crisis_contacts)
    ladder = Ladder.from_json(facility.ladder)
    overrides = set(facility.ladder or {})
    lines = [
        f"facility {facility.id}: {facility.name} ({facility.profile}, {facility.tz})",
        f"  alert channel: {facility.alert_channel or '(none)'}",
        f"  business hours: {hours.opens:%H:%M}-{hours.closes:%H:%M} "
        f"{weekday_names(sorted(hours.weekdays))}"
        + (" (public holidays too)" if hours.holidays_open else " (closed on public holidays)"),
        "  crisis contacts:" + ("" if facility.crisis_contacts else " (national defaults)"),
    ]
    lines.extend(f"    {c.name} {c.phone} {c.hours}".rstrip() for c in contacts)
    lines.append(
        "  ladder: "
        + " ".join(
            f"{f.name}={getattr(ladder, f.name)}" + ("*" if f.name in overrides else "")
            for f in fields(Ladder)
        )
        + ("  (* set for this facility)" if overrides else "")
    )
    lines.append(f"  ask temperature: {'yes' if facility.ask_temperature else 'no'}")
    lines.append(f"  disclosure: {facility.disclosure}")
    lines.append(f"  office no (事業所番号): {facility.office_no or '(none)'}")
    lines.append(
        f"  late-entry grace: {facility.late_entry_grace_hours} h"
        " (entries later than this after what they describe are 事後記録)"
    )
    return lines


async def pick_facility(session: AsyncSession, name: str | None) -> Facility:
    """The named facility, or the only one when there is exactly one."""
    all_ = await repo.facilities(session)
    if name is not None:
        for f in all_:
            if f.name == name:
                return f
        raise AdminError(f"no facility named {name!r}")
    if len(all_) == 1:
        return all_[0]
    if not all_:
        raise AdminError("no facility yet: run `nippo facility init --name NAME` first")
    raise AdminError("several facilities: say which with --facility NAME")


async def add_member(
    session: AsyncSession,
    facility: Facility,
    *,
    name: str,
    now: datetime,
    kana: str | None = None,
    recipient_no: str | None = None,
    municipality: str | None = None,
    usual_tasks: Sequence[str] = (),
) -> Member:
    name = name.strip()
    if not name:
        raise AdminError("a member needs a name")
    member = Member(
        facility_id=facility.id,
        name=name,
        kana=kana or None,
        recipient_no=recipient_no or None,
        municipality=municipality or None,
        usual_tasks=list(usual_tasks),
        active=True,
        voice_contact_hard=False,
        created_at=now,
    )
    session.add(member)
    await session.flush()
    return member


IMPORT_COLUMNS = {
    "name": ("name", "氏名", "名前"),
    "kana": ("kana", "ふりがな", "フリガナ", "カナ"),
    "recipient_no": ("recipient_no", "受給者証番号"),
    "municipality": ("municipality", "市町村", "支給決定市町村"),
    "tasks": ("tasks", "usual_tasks", "作業"),
}


async def import_members(
    session: AsyncSession, facility: Facility, content: str, now: datetime
) -> list[Member]:
    """Members from CSV with a header row (English or Japanese column names)."""
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    header = {h.strip(): h for h in (reader.fieldnames or [])}
    columns = {
        key: next((header[n] for n in names if n in header), None)
        for key, names in IMPORT_COLUMNS.items()
    }
    if columns["name"] is None:
        raise AdminError("the CSV needs a header row with a 'name' (or 氏名) column")
    added = []
    for line_no, row in enumerate(reader, start=2):

        def get(key: str, row: dict[str, str] = row) -> str | None:
            col = columns[key]
            value = (row.get(col) or "").strip() if col else ""
            return value or None

        name = get("name")
        if not name:
            raise AdminError(f"line {line_no}: the name is empty")
        tasks = [t.strip() for t in (get("tasks") or "").split("|") if t.strip()]
        added.append(
            await add_member(
                session,
                facility,
                name=name,
                now=now,
                kana=get("kana"),
                recipient_no=get("recipient_no"),
                municipality=get("municipality"),
                usual_tasks=tasks,
            )
        )
    return added


async def find_member(session: AsyncSession, facility: Facility, query: str) -> Member:
    """A member by id, full name, family name, kana or a unique prefix."""
    members = await list_members(session, facility)
    matches = match_members(members, query)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise AdminError(f"no member matches {query!r}")
    names = ", ".join(f"{m.name} (id {m.id})" for m in matches)
    raise AdminError(f"{query!r} matches several members: {names}")


def match_members(members: Sequence[Member], query: str) -> list[Member]:
    return _match(members, query, lambda m: [n for n in (m.name, m.kana) if n])


def _match(items: Sequence[T], query: str, names: Callable[[T], list[str]]) -> list[T]:
    """By id, full name, family name or a unique prefix, in that order."""
    q = query.strip().replace("\u3000", " ")
    if q.isdigit():
        return [i for i in items if getattr(i, "id", None) == int(q)]
    squeeze = q.replace(" ", "")

    def full(n: str) -> bool:
        return n.replace("\u3000", " ") == q or n.replace(" ", "").replace("\u3000", "") == squeeze

    def family(n: str) -> bool:
        return n.replace("\u3000", " ").split(" ")[0] == q

    def prefix(n: str) -> bool:
        return n.replace(" ", "").replace("\u3000", "").startswith(squeeze)

    for rule in (full, family, prefix):
        found = [i for i in items if any(rule(n) for n in names(i))]
        if found:
            return found
    return []


async def list_members(session: AsyncSession, facility: Facility) -> Sequence[Member]:
    stmt = select(Member).where(Member.facility_id == facility.id, Member.active.is_(True))
    return (await session.execute(stmt.order_by(Member.id))).scalars().all()


async def issue_link_code(session: AsyncSession, member: Member, now: datetime) -> str:
    """A random single-use 6-digit code, valid for 24 hours; the member's earlier unused
    codes stop working (only the newest code a member was given can link an account)."""
    await session.execute(
        update(LinkCode)
        .where(
            LinkCode.member_id == member.id,
            LinkCode.used_at.is_(None),
            LinkCode.voided_at.is_(None),
            LinkCode.expires_at > now,
        )
        .values(voided_at=now)
    )
    for _ in range(20):
        code = f"{secrets.randbelow(1_000_000):06d}"
        taken = (await session.execute(select(LinkCode.id).where(LinkCode.code == code))).first()
        if taken is None:
            session.add(
                LinkCode(
                    member_id=member.id, code=code, created_at=now, expires_at=now + LINK_CODE_TTL
                )
            )
            await session.flush()
            return code
    raise AdminError("could not find a free link code; try again")


async def find_staff(session: AsyncSession, facility: Facility, query: str) -> Staff:
    """An active staff member of the facility by id, name, family name, a unique prefix or
    Slack user id."""
    stmt = select(Staff).where(Staff.facility_id == facility.id, Staff.active.is_(True))
    staff = (await session.execute(stmt.order_by(Staff.id))).scalars().all()
    matches = _match(staff, query, lambda s: [n for n in (s.name, s.slack_user_id) if n])
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise AdminError(f"no active staff member matches {query!r}")
    names = ", ".join(f"{s.name} (id {s.id})" for s in matches)
    raise AdminError(f"{query!r} matches several staff members: {names}")


async def add_staff(
    session: AsyncSession,
    facility: Facility,
    *,
    name: str,
    slack_user: str | None,
    role: str,
    now: datetime,
) -> Staff:
    """A staff member or manager; with a Slack user id already known, that one is updated
    (and made active again). Without Slack, staff sign in to the console by link."""
    if role not in (StaffRole.STAFF.value, StaffRole.MANAGER.value):
        raise AdminError("role must be staff or manager")
    name, slack_user = name.strip(), (slack_user or "").strip() or None
    if not name:
        raise AdminError("a staff member needs a name")
    existing = (
        (
            await session.execute(select(Staff).where(Staff.slack_user_id == slack_user))
        ).scalar_one_or_none()
        if slack_user
        else None
    )
    if existing is not None:
        existing.name, existing.role, existing.active = name, role, True
        existing.facility_id = facility.id
        return existing
    staff = Staff(
        facility_id=facility.id,
        name=name,
        role=role,
        slack_user_id=slack_user,
        active=True,
        created_at=now,
    )
    session.add(staff)
    await session.flush()
    return staff


def set_role(staff: Staff, role: str) -> None:
    if role not in (StaffRole.STAFF.value, StaffRole.MANAGER.value):
        raise AdminError("role must be staff or manager")
    staff.role = role


@dataclass(frozen=True)
class ScheduleSpec:
    days: tuple[int, ...]
    mode: DayMode
    start: time | None
    end: time | None


def parse_schedule(days: str, mode: str, start: str | None, end: str | None) -> ScheduleSpec:
    try:
        day_idx = tuple(WEEKDAYS.index(d.strip().lower()[:3]) for d in days.split(",") if d.strip())
    except ValueError as exc:
        raise AdminError("days are mon,tue,wed,thu,fri,sat,sun") from exc
    try:
        day_mode = DayMode(mode)
    except ValueError as exc:
        raise AdminError("mode is zaitaku, tsusho or off") from exc
    s, e = _hhmm(start), _hhmm(end)
    if day_mode is not DayMode.OFF and (s is None or e is None):
        raise AdminError("--start and --end (HH:MM) are needed for zaitaku and tsusho days")
    if s is not None and e is not None and e <= s:
        raise AdminError("--end must be after --start")
    if not day_idx:
        raise AdminError("give at least one day with --days")
    return ScheduleSpec(day_idx, day_mode, s, e)


def _hhmm(value: str | None) -> time | None:
    if not value:
        return None
    try:
        return time.fromisoformat(value if len(value) > 4 else value.zfill(5))
    except ValueError as exc:
        raise AdminError(f"times are HH:MM, not {value!r}") from exc


async def set_schedule(session: AsyncSession, member: Member, spec: ScheduleSpec) -> None:
    for weekday in spec.days:
        row = (
            await session.execute(
                select(Schedule).where(Schedule.member_id == member.id, Schedule.weekday == weekday)
            )
        ).scalar_one_or_none()
        if row is None:
            row = Schedule(member_id=member.id, weekday=weekday, mode=spec.mode.value)
            session.add(row)
        row.mode, row.start, row.end = spec.mode.value, spec.start, spec.end
    await session.flush()


async def set_day(
    session: AsyncSession,
    member: Member,
    day: date,
    mode: str,
    start: str | None,
    end: str | None,
    note: str | None = None,
) -> ScheduleException:
    """A one-off plan for one date (通所 instead of 在宅, a day off, other hours): it wins
    over the weekly pattern (`repo.day_plan`)."""
    spec = parse_schedule(WEEKDAYS[day.weekday()], mode, start, end)
    row = await _one_off(session, member, day)
    if row is None:
        row = ScheduleException(member_id=member.id, date=day, mode=spec.mode.value)
        session.add(row)
    row.mode, row.start, row.end = spec.mode.value, spec.start, spec.end
    row.note = (note or "").strip() or None
    await session.flush()
    return row


async def _one_off(session: AsyncSession, member: Member, day: date) -> ScheduleException | None:
    stmt = select(ScheduleException).where(
        ScheduleException.member_id == member.id, ScheduleException.date == day
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _closure(session: AsyncSession, facility: Facility, day: date) -> FacilityClosure | None:
    stmt = select(FacilityClosure).where(
        FacilityClosure.facility_id == facility.id, FacilityClosure.date == day
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _delete(session: AsyncSession, row: ScheduleException | FacilityClosure | None) -> bool:
    if row is None:
        return False
    await session.delete(row)
    await session.flush()
    return True


async def clear_day(session: AsyncSession, member: Member, day: date) -> bool:
    """Back to the weekly pattern on that date; False when the date had no one-off plan."""
    return await _delete(session, await _one_off(session, member, day))


async def one_off_days(
    session: AsyncSession, member: Member, since: date
) -> Sequence[ScheduleException]:
    stmt = select(ScheduleException).where(
        ScheduleException.member_id == member.id, ScheduleException.date >= since
    )
    return (await session.execute(stmt.order_by(ScheduleException.date))).scalars().all()


async def add_closure(
    session: AsyncSession, facility: Facility, day: date, note: str | None = None
) -> FacilityClosure:
    """A day the facility is closed (年末年始, a holiday of its own): no check-ins are
    expected, nobody is reminded or escalated."""
    row = await _closure(session, facility, day)
    if row is None:
        row = FacilityClosure(facility_id=facility.id, date=day)
        session.add(row)
    row.note = (note or "").strip() or None
    await session.flush()
    return row


async def remove_closure(session: AsyncSession, facility: Facility, day: date) -> bool:
    return await _delete(session, await _closure(session, facility, day))


async def closures(
    session: AsyncSession, facility: Facility, since: date
) -> Sequence[FacilityClosure]:
    stmt = select(FacilityClosure).where(
        FacilityClosure.facility_id == facility.id, FacilityClosure.date >= since
    )
    return (await session.execute(stmt.order_by(FacilityClosure.date))).scalars().all()


def set_usual_tasks(member: Member, tasks: Sequence[str]) -> list[str]:
    """The work the member usually does (offered as buttons when they plan the day)."""
    cleaned = list(dict.fromkeys(t.strip() for t in tasks if t.strip()))
    if any(len(t) > 40 for t in cleaned):
        raise AdminError("a usual task is a short name (40 characters at most)")
    member.usual_tasks = cleaned
    return cleaned


def set_approval(member: Member, start: date | None, until: date | None, kind: str | None) -> None:
    """The member's 在宅 approval (受給者証の支給決定期間) and its kind, None keeping what is
    stored; refused (nothing changed) when it ends before it starts, a three-month one runs
    longer, or a new period follows a three-month one too soon (東大阪市 【認定期間】)."""
    if kind is not None and kind not in texts.APPROVAL_KINDS:
        raise AdminError(texts.APPROVAL_KIND_UNKNOWN.format(kind=kind))
    before = (member.approval_kind, member.approval_until)
    new_period = start is not None and start != member.approval_from
    start = start if start is not None else member.approval_from
    until = until if until is not None else member.approval_until
    kind = kind or member.approval_kind
    problem = compliance.approval_problem(
        kind, start, until, *(before if new_period else (None, None))
    )
    if problem == "order":
        raise AdminError(texts.APPROVAL_ORDER.format(start=start, until=until))
    if problem == "three_months" and start is not None:
        limit = compliance.approval_limit(start, 3)
        raise AdminError(texts.APPROVAL_THREE_MONTHS_TOO_LONG.format(start=start, limit=limit))
    if problem == "renewal" and before[1] is not None:
        after = compliance.add_months(before[1], 3)
        raise AdminError(texts.APPROVAL_THREE_MONTHS_RENEWAL.format(until=before[1], after=after))
    member.approval_from, member.approval_until, member.approval_kind = start, until, kind


def set_active(person: Member | Staff, active: bool) -> None:
    """A member who stops using the service, or staff who leave, are kept (their records
    name them) but set inactive: off the boards, the reminders and the mentions, and a staff
    member's console sign-ins end at once."""
    person.active = active


async def audit(
    session: AsyncSession, *, actor: str, action: str, target: str, now: datetime, **detail: object
) -> None:
    audit_chain.record(
        session.sync_session, at=now, actor=actor, action=action, target=target, detail=detail
    )


def weekday_names(days: Sequence[int]) -> str:
    return ",".join(WEEKDAYS[d] for d in days)
