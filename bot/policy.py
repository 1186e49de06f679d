"""Reminder and escalation policy (DESIGN §6): pure `decide(view, now) -> actions`.

The shell derives a `TickView` from the database each tick; this module says which effects are
due at `now`. Every action carries a unique key, so applying the same action twice (a repeated
tick, a second replica) is a no-op in the shell. `done` keys in the view let the policy leave
out what already happened; the shell's unique keys are the final guard.

Catch-up rules: escalations (staff alerts) still happen when a tick comes late; a reminder is
sent only while it is fresh (at most `stale_after` minutes late, a start reminder only before
the planned end) and only if no later reminder of the same phase is due already.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Any

import jpholiday

from bot.domain import DayMode, Phase, ReportStatus

THURSDAY = 3
MONTHLY_REMINDER_DAY = 25


class Audience(StrEnum):
    STAFF = "staff"
    MANAGER = "manager"


class MissedKind(StrEnum):
    START = "missed_start"
    END = "missed_end"

    @property
    def slug(self) -> str:
        return "missed-start" if self is MissedKind.START else "missed-end"


class EvaluationKind(StrEnum):
    WEEKLY = "weekly"  # R5
    MONTHLY = "monthly"  # R6


@dataclass(frozen=True)
class Ladder:
    """Minutes after the planned start/end (DESIGN §6 defaults), per facility."""

    start_reminder: int = 0
    start_second: int = 15
    start_staff: int = 30
    start_manager: int = 60
    end_reminder: int = 0
    end_staff: int = 60
    stale_after: int = 45  # a reminder later than this is left out
    digest_after_end: int = 90  # the staff digest, after the facility's default end
    evaluation_hour: int = 9  # evaluation reminders go to staff from this local hour

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Ladder:
        """facility.ladder: unknown keys and non-integers are ignored, the rest override."""
        names = {f.name for f in fields(cls)}
        given = {
            k: int(v)
            for k, v in (data or {}).items()
            if k in names and isinstance(v, int | float) and not isinstance(v, bool)
        }
        return cls(**given)


@dataclass(frozen=True)
class MemberDay:
    """What the policy needs to know about one member's business date."""

    member_id: int
    facility_id: int
    business_date: date
    tz_offset_minutes: int
    mode: DayMode
    planned_start: time
    planned_end: time
    status: ReportStatus = ReportStatus.OPEN
    start_at: datetime | None = None
    end_at: datetime | None = None
    from_exception: bool = False  # a dated schedule_exception, which beats holidays
    closed: bool = False  # facility_closure on this date
    reachable: bool = True  # an active linked identity to remind
    open_alerts: frozenset[MissedKind] = frozenset()  # missed-contact alerts not yet resolved
    ladder: Ladder = field(default_factory=Ladder)


@dataclass(frozen=True)
class FacilityDay:
    facility_id: int
    business_date: date
    tz_offset_minutes: int
    default_end: time
    closed: bool = False
    ladder: Ladder = field(default_factory=Ladder)


@dataclass(frozen=True)
class TickView:
    members: tuple[MemberDay, ...] = ()
    facilities: tuple[FacilityDay, ...] = ()
    done: frozenset[str] = frozenset()  # effect keys that exist already


@dataclass(frozen=True)
class Remind:
    key: str
    at: datetime
    member_id: int
    facility_id: int
    business_date: date
    phase: Phase
    step: int


@dataclass(frozen=True)
class Escalate:
    key: str
    at: datetime
    member_id: int
    facility_id: int
    business_date: date
    kind: MissedKind
    audience: Audience
    planned: time  # the planned start/end the contact was missed against


@dataclass(frozen=True)
class Resolve:
    key: str
    at: datetime
    member_id: int
    facility_id: int
    business_date: date
    kind: MissedKind


@dataclass(frozen=True)
class SendDigest:
    key: str
    at: datetime
    facility_id: int
    business_date: date


@dataclass(frozen=True)
class RemindEvaluations:
    key: str
    at: datetime
    facility_id: int
    business_date: date
    kind: EvaluationKind
    period_start: date  # the Monday of the week, or the 1st of the month


Action = Remind | Escalate | Resolve | SendDigest | RemindEvaluations


# --- keys ----------------------------------------------------------------------------------


def remind_key(member_id: int, day: date, phase: Phase, step: int) -> str:
    return f"remind:{phase.value}:{member_id}:{day.isoformat()}:{step}"


def alert_key(member_id: int, day: date, kind: MissedKind, audience: Audience) -> str:
    return f"alert:{kind.slug}:{member_id}:{day.isoformat()}:{audience.value}"


def resolve_key(member_id: int, day: date, kind: MissedKind) -> str:
    return f"resolve:{kind.slug}:{member_id}:{day.isoformat()}"


def digest_key(facility_id: int, day: date) -> str:
    return f"digest:{facility_id}:{day.isoformat()}"


def evaluation_key(facility_id: int, kind: EvaluationKind, period_start: date) -> str:
    return f"evaluation-due:{kind.value}:{facility_id}:{period_start.isoformat()}"


# --- calendar ------------------------------------------------------------------------------


def is_holiday(day: date) -> bool:
    """A Japanese public holiday (振替休日 included)."""
    return bool(jpholiday.is_holiday(day))


def local_moment(day: date, at: time, tz_offset_minutes: int) -> datetime:
    """A local wall-clock time on a business date, as an aware UTC instant."""
    zone = timezone(timedelta(minutes=tz_offset_minutes))
    return datetime.combine(day, at, zone).astimezone(UTC)


def works_today(day: MemberDay) -> bool:
    """A 在宅 day the bot checks in on: a dated exception overrides holidays and closures."""
    if day.mode is not DayMode.ZAITAKU:
        return False
    if day.from_exception:
        return True
    return not (day.closed or is_holiday(day.business_date))


# --- deciding ------------------------------------------------------------------------------


def decide(view: TickView, now: datetime) -> list[Action]:
    """Every effect due at `now` that is not done yet, ordered by key (a stable lock order)."""
    actions: list[Action] = []
    for day in view.members:
        actions.extend(member_actions(day, now))
    for fac in view.facilities:
        actions.extend(facility_actions(fac, now))
    return sorted((a for a in actions if a.key not in view.done), key=lambda a: a.key)


def member_actions(day: MemberDay, now: datetime) -> Iterable[Action]:
    yield from _resolutions(day, now)
    if not works_today(day):
        return
    if day.status is ReportStatus.OPEN:
        yield from _start_ladder(day, now)
    elif day.status is ReportStatus.STARTED:
        yield from _end_ladder(day, now)


def _resolutions(day: MemberDay, now: datetime) -> Iterable[Action]:
    """A late report (or an absence notice) closes the open missed-contact alert."""
    contacted_start = day.status is not ReportStatus.OPEN
    if MissedKind.START in day.open_alerts and contacted_start:
        yield _resolve(day, MissedKind.START, now)
    if MissedKind.END in day.open_alerts and day.status is ReportStatus.ENDED:
        yield _resolve(day, MissedKind.END, now)


def _resolve(day: MemberDay, kind: MissedKind, now: datetime) -> Resolve:
    return Resolve(
        resolve_key(day.member_id, day.business_date, kind),
        now,
        day.member_id,
        day.facility_id,
        day.business_date,
        kind,
    )


def _start_ladder(day: MemberDay, now: datetime) -> Iterable[Action]:
    lad = day.ladder
    start = local_moment(day.business_date, day.planned_start, day.tz_offset_minutes)
    end = local_moment(day.business_date, day.planned_end, day.tz_offset_minutes)
    steps = [(1, start + _m(lad.start_reminder)), (2, start + _m(lad.start_second))]
    yield from _reminders(day, Phase.START, steps, now, until=end)
    for audience, minutes in (
        (Audience.STAFF, lad.start_staff),
        (Audience.MANAGER, lad.start_manager),
    ):
        yield from _escalation(day, MissedKind.START, audience, start + _m(minutes), now)


def _end_ladder(day: MemberDay, now: datetime) -> Iterable[Action]:
    lad = day.ladder
    end = local_moment(day.business_date, day.planned_end, day.tz_offset_minutes)
    yield from _reminders(day, Phase.END, [(1, end + _m(lad.end_reminder))], now, until=None)
    yield from _escalation(day, MissedKind.END, Audience.STAFF, end + _m(lad.end_staff), now)


def _reminders(
    day: MemberDay,
    phase: Phase,
    steps: list[tuple[int, datetime]],
    now: datetime,
    until: datetime | None,
) -> Iterable[Action]:
    """The freshest due reminder only: a late tick never sends a burst of stale nudges."""
    if not day.reachable:
        return
    due = [(step, at) for step, at in steps if at <= now]
    if not due:
        return
    step, at = due[-1]
    if now - at > _m(day.ladder.stale_after) or (until is not None and now >= until):
        return
    yield Remind(
        remind_key(day.member_id, day.business_date, phase, step),
        at,
        day.member_id,
        day.facility_id,
        day.business_date,
        phase,
        step,
    )


def _escalation(
    day: MemberDay, kind: MissedKind, audience: Audience, at: datetime, now: datetime
) -> Iterable[Action]:
    if at > now:
        return
    planned = day.planned_start if kind is MissedKind.START else day.planned_end
    yield Escalate(
        alert_key(day.member_id, day.business_date, kind, audience),
        at,
        day.member_id,
        day.facility_id,
        day.business_date,
        kind,
        audience,
        planned,
    )


def facility_actions(fac: FacilityDay, now: datetime) -> Iterable[Action]:
    day = fac.business_date
    if not (fac.closed or is_holiday(day)):
        at = local_moment(day, fac.default_end, fac.tz_offset_minutes) + _m(
            fac.ladder.digest_after_end
        )
        if at <= now:
            yield SendDigest(digest_key(fac.facility_id, day), at, fac.facility_id, day)
    morning = local_moment(day, time(fac.ladder.evaluation_hour % 24), fac.tz_offset_minutes)
    if now < morning:
        return
    # R5: from Thursday on, a week without a weekly evaluation is flagged (once per week).
    if day.weekday() >= THURSDAY:
        monday = day - timedelta(days=day.weekday())
        yield RemindEvaluations(
            evaluation_key(fac.facility_id, EvaluationKind.WEEKLY, monday),
            morning,
            fac.facility_id,
            day,
            EvaluationKind.WEEKLY,
            monday,
        )
    # R6: from the 25th on, a month without a monthly evaluation is flagged (once per month).
    if day.day >= MONTHLY_REMINDER_DAY:
        first = day.replace(day=1)
        yield RemindEvaluations(
            evaluation_key(fac.facility_id, EvaluationKind.MONTHLY, first),
            morning,
            fac.facility_id,
            day,
            EvaluationKind.MONTHLY,
            first,
        )


def _m(minutes: int) -> timedelta:
    return timedelta(minutes=minutes)
