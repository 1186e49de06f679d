"""Reminder and escalation policy (DESIGN §6): pure `decide(view, now) -> actions`.

The shell derives a `TickView` from the database each tick; this module says which effects are
due at `now`. Every action carries a unique key, so applying the same action twice (a repeated
tick, a second replica) is a no-op in the shell. `done` keys in the view let the policy leave
out what already happened; the shell's unique keys are the final guard.

A day's end ladder runs until the end report is complete (status `ended`: end time and
outputs); 終了報告の途中 (`ending`) is chased like no end. `day_kind` says what a date is for
the check-in (planned 在宅, planned 通所, or unplanned) from the plan and what was recorded.

Catch-up rules: escalations (staff alerts) still happen when a tick comes late; a reminder is
sent only while it is fresh (at most `stale_after` minutes late, a start reminder only before
the planned end) and only if no later reminder of the same phase is due already.

Alerts nobody has taken (`view.alerts`, any date) re-notify: crisis and urgent ones on the
facility's ladder day and night (+10 the 担当 and 代理, +20 every manager too, then every 30
minutes), a 相談 once `consult_promise` business minutes have passed (then every
`renotify_every` business minutes, only while staff are there). Only the latest due step is
sent, keyed `renotify:{alert}:{step}`, so a late tick never sends a burst.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from functools import lru_cache
from typing import Any

import jpholiday

from bot.core.domain import (
    DAY_TSUSHO_AT_HOME,
    DAY_UNPLANNED,
    AlertLevel,
    DayKind,
    DayMode,
    Phase,
    ReportStatus,
)
from bot.core.hours import BusinessHours

THURSDAY = 3
MONTHLY_REMINDER_DAY = 25
# A member who answered a check-in question this recently is still answering: a reminder
# then would interrupt them (「終了」 at 14:58, the outputs question at 15:00).
ANSWERING_MINUTES = 10


class Audience(StrEnum):
    STAFF = "staff"
    MANAGER = "manager"


class MissedKind(StrEnum):
    START = "missed_start"
    END = "missed_end"

    @property
    def slug(self) -> str:
        return "missed-start" if self is MissedKind.START else "missed-end"


class RenotifyAudience(StrEnum):
    PRIMARY = "primary"  # the member's 担当 and 代理 (the managers when neither is set)
    MANAGERS = "managers"  # 担当, 代理 and every manager


CONSULT_KIND = "consult"
LADDER_LEVELS = frozenset({AlertLevel.CRISIS, AlertLevel.URGENT})


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
    # An untaken crisis/urgent alert re-notifies (minutes after it opened), day and night:
    renotify_primary: int = 10  # the member's 担当 and 代理
    renotify_managers: int = 20  # and every manager
    renotify_every: int = 30  # then again every this many minutes (0: no repeats)
    consult_promise: int = 30  # business minutes a 相談 may wait before staff are re-notified

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
    # The 日報 says 在宅 (as planned, or as the member or staff said): the day is happening
    # even where the plan had none, so its end check is reminded and escalated like any other.
    recorded_zaitaku: bool = False
    answering: bool = False  # the member is in the middle of a check-in: no nudge meanwhile
    closed: bool = False  # facility_closure on this date
    reachable: bool = True  # an active linked identity to remind
    # A crisis alert is open for the day: staff are reaching out, so no routine nudges
    # (「作業を始めるときに教えてください」) go to the member meanwhile.
    in_crisis: bool = False
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
class OpenAlert:
    """An alert nobody has taken yet (any date), as far as re-notifying it goes."""

    alert_id: int
    member_id: int
    facility_id: int
    kind: str
    level: AlertLevel
    opened_at: datetime
    tz_offset_minutes: int
    state: str = "open"
    ladder: Ladder = field(default_factory=Ladder)
    hours: BusinessHours = field(default_factory=BusinessHours)


@dataclass(frozen=True)
class TickView:
    members: tuple[MemberDay, ...] = ()
    facilities: tuple[FacilityDay, ...] = ()
    done: frozenset[str] = frozenset()  # effect keys that exist already
    alerts: tuple[OpenAlert, ...] = ()


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


@dataclass(frozen=True)
class Renotify:
    """Post an untaken alert again, as a new message that mentions `audience`."""

    key: str
    at: datetime
    alert_id: int
    member_id: int
    facility_id: int
    step: int
    audience: RenotifyAudience
    minutes_open: int  # since it opened, at the tick (business minutes for a 相談)
    business_minutes: bool = False


Action = Remind | Escalate | Resolve | SendDigest | RemindEvaluations | Renotify


# --- keys ----------------------------------------------------------------------------------


def remind_key(member_id: int, day: date, phase: Phase, step: int) -> str:
    return f"remind:{phase.value}:{member_id}:{day.isoformat()}:{step}"


def alert_key(member_id: int, day: date, kind: MissedKind, audience: Audience) -> str:
    return f"alert:{kind.slug}:{member_id}:{day.isoformat()}:{audience.value}"


def resolve_key(member_id: int, day: date, kind: MissedKind) -> str:
    return f"resolve:{kind.slug}:{member_id}:{day.isoformat()}"


def digest_key(facility_id: int, day: date) -> str:
    return f"digest:{facility_id}:{day.isoformat()}"


def renotify_key(alert_id: int, step: int) -> str:
    return f"renotify:{alert_id}:{step}"


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
    if day.from_exception or day.recorded_zaitaku:
        return True
    return not (day.closed or is_holiday(day.business_date))


def day_kind(
    plan: DayMode,
    *,
    from_exception: bool = False,
    closed: bool = False,
    holiday: bool = False,
    day_flag: str | None = None,
    settled: bool = False,
) -> DayKind:
    """What a date is for the check-in (issue #16 §2: the day recorded as it happened).

    `settled`: the member already said where they work, or staff classified the day (a `mode`
    revision exists), so nothing is asked or flagged again. A 在宅 or 通所 plan holds on
    working days (a dated exception beats holidays and closures, as for reminders); any other
    day with a report is unplanned until staff classify it.
    """
    if settled or day_flag == DAY_TSUSHO_AT_HOME:
        return DayKind.PLANNED
    if day_flag == DAY_UNPLANNED:
        return DayKind.UNPLANNED
    working = from_exception or not (closed or holiday)
    if working and plan is DayMode.ZAITAKU:
        return DayKind.PLANNED
    if working and plan is DayMode.TSUSHO:
        return DayKind.TSUSHO
    return DayKind.UNPLANNED


def opening_mode(kind: DayKind, plan: DayMode) -> DayMode:
    """The mode a new 日報 opens with: the plan's, except that an unplanned day is not made a
    在宅 (or 通所) day by the member's report; it stays 休み until staff classify it."""
    return DayMode.OFF if kind is DayKind.UNPLANNED else plan


# --- deciding ------------------------------------------------------------------------------


def decide(view: TickView, now: datetime) -> list[Action]:
    """Every effect due at `now` that is not done yet, ordered by key (a stable lock order)."""
    actions: list[Action] = []
    for day in view.members:
        actions.extend(member_actions(day, now))
    for fac in view.facilities:
        actions.extend(facility_actions(fac, now))
    for alert in view.alerts:
        actions.extend(renotify_actions(alert, now))
    return sorted((a for a in actions if a.key not in view.done), key=lambda a: a.key)


def member_actions(day: MemberDay, now: datetime) -> Iterable[Action]:
    yield from _resolutions(day, now)
    if not works_today(day):
        return
    if day.status is ReportStatus.OPEN:
        yield from _start_ladder(day, now)
    elif day.status in (ReportStatus.STARTED, ReportStatus.ENDING):
        # 終了報告の途中 is not 終了 (R2: end time and outputs): reminded and escalated alike.
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
    if not day.reachable or day.in_crisis or day.answering:
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


# --- alerts that wait for someone to take them --------------------------------------------


def renotify_actions(alert: OpenAlert, now: datetime) -> Iterable[Action]:
    """The latest re-notification due for an untaken alert (a late tick sends one, never a
    burst). Crisis and urgent alerts follow the ladder around the clock; a 相談 waits
    `consult_promise` business minutes, then re-notifies while staff are there."""
    if alert.state != "open":
        return
    if alert.kind == CONSULT_KIND:
        yield from _consult_renotify(alert, now)
    elif alert.level in LADDER_LEVELS:
        yield from _urgent_renotify(alert, now)


def renotify_step(elapsed: int, ladder: Ladder) -> int:
    """Which step of the crisis/urgent ladder is due `elapsed` minutes after opening (0: none)."""
    primary = max(ladder.renotify_primary, 1)
    managers = max(ladder.renotify_managers, primary)
    if elapsed < primary:
        return 0
    if elapsed < managers:
        return 1
    if ladder.renotify_every <= 0:
        return 2
    return 2 + (elapsed - managers) // ladder.renotify_every


def renotify_offset(step: int, ladder: Ladder) -> int:
    """Minutes after opening at which `step` of the crisis/urgent ladder is due."""
    primary = max(ladder.renotify_primary, 1)
    managers = max(ladder.renotify_managers, primary)
    if step == 1:
        return primary
    return managers + max(ladder.renotify_every, 0) * (step - 2)


def _urgent_renotify(alert: OpenAlert, now: datetime) -> Iterable[Action]:
    elapsed = int((now - alert.opened_at).total_seconds() // 60)
    step = renotify_step(elapsed, alert.ladder)
    if step == 0:
        return
    offset = renotify_offset(step, alert.ladder)
    audience = RenotifyAudience.PRIMARY if step == 1 else RenotifyAudience.MANAGERS
    yield _renotify(alert, step, alert.opened_at + _m(offset), audience, elapsed)


def _consult_renotify(alert: OpenAlert, now: datetime) -> Iterable[Action]:
    zone = timezone(timedelta(minutes=alert.tz_offset_minutes))
    opened, local_now = alert.opened_at.astimezone(zone), now.astimezone(zone)
    if not alert.hours.is_open(local_now):  # the promise is kept when staff are back
        return
    lad = alert.ladder
    promise = max(lad.consult_promise, 1)
    elapsed = business_minutes(opened, local_now, alert.hours)
    if elapsed < promise:
        return
    step = 1 + ((elapsed - promise) // lad.renotify_every if lad.renotify_every > 0 else 0)
    offset = promise + max(lad.renotify_every, 0) * (step - 1)
    at = add_business_minutes(opened, offset, alert.hours).astimezone(UTC)
    yield _renotify(alert, step, at, RenotifyAudience.MANAGERS, elapsed, business=True)


def _renotify(
    alert: OpenAlert,
    step: int,
    at: datetime,
    audience: RenotifyAudience,
    minutes: int,
    *,
    business: bool = False,
) -> Renotify:
    return Renotify(
        renotify_key(alert.alert_id, step),
        at,
        alert.alert_id,
        alert.member_id,
        alert.facility_id,
        step,
        audience,
        minutes,
        business,
    )


MAX_BUSINESS_DAYS = 400  # an alert older than this counts no further back


def business_minutes(start: datetime, end: datetime, hours: BusinessHours) -> int:
    """Whole minutes between two local instants (same zone) that fall in business hours."""
    if end <= start:
        return 0
    total = timedelta(0)
    first = max(start.date(), end.date() - timedelta(days=MAX_BUSINESS_DAYS))
    day = first
    while day <= end.date():
        if _open_day(hours, day):
            opens = datetime.combine(day, hours.opens, start.tzinfo)
            closes = datetime.combine(day, hours.closes, start.tzinfo)
            lo, hi = max(opens, start), min(closes, end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return int(total.total_seconds() // 60)


@lru_cache(maxsize=8192)
def _open_day(hours: BusinessHours, day: date) -> bool:
    """Cached: an old 相談 is counted over many days, every minute."""
    return hours.is_open_day(day)


def add_business_minutes(start: datetime, minutes: int, hours: BusinessHours) -> datetime:
    """The local instant at which `minutes` business minutes have passed since `start`."""
    left = timedelta(minutes=max(minutes, 0))
    at = hours.next_open(start)
    for _ in range(MAX_BUSINESS_DAYS):
        closes = datetime.combine(at.date(), hours.closes, at.tzinfo)
        if at + left <= closes:
            return at + left
        left -= closes - at
        at = hours.next_open(closes)
    return at + left


def _m(minutes: int) -> timedelta:
    return timedelta(minutes=minutes)


def mention_order(
    own: Sequence[int],
    managers: Sequence[int],
    audience: RenotifyAudience = RenotifyAudience.MANAGERS,
) -> list[int]:
    """Whom an alert mentions, as staff ids (the one rule for new alerts, digests and
    re-notifications): the member's 担当 and 代理 first, then the facility's managers, each
    person once. A first re-notification step (PRIMARY) stays with 担当 and 代理, and goes to
    the managers only when neither can be reached."""
    first = list(dict.fromkeys(own))
    if audience is RenotifyAudience.PRIMARY:
        return first or list(dict.fromkeys(managers))
    return list(dict.fromkeys([*first, *managers]))
