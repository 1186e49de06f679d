"""The pure reminder/escalation policy: simulated days minute by minute, no database.

`simulate` plays a day: at each tick it asks `decide` what is due, records each action as done
(what the shell's unique keys do) and returns (local HH:MM, key) in the order they happened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import policy
from bot.core.domain import DayMode, ReportStatus
from bot.core.policy import FacilityDay, Ladder, MemberDay, MissedKind, TickView

DAY = date(2026, 7, 1)  # a Wednesday
JST = 9 * 60


def at(hhmm: str, day: date = DAY) -> datetime:
    return policy.local_moment(day, time.fromisoformat(hhmm), JST)


def hm(t: datetime) -> str:
    return (t + timedelta(minutes=JST)).astimezone(UTC).strftime("%H:%M")


def member(**kw: object) -> MemberDay:
    base = MemberDay(
        member_id=7,
        facility_id=1,
        business_date=DAY,
        tz_offset_minutes=JST,
        mode=DayMode.ZAITAKU,
        planned_start=time(10, 0),
        planned_end=time(15, 0),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


Update = Callable[[MemberDay, datetime], MemberDay]


def simulate(
    day: MemberDay,
    update: Update = lambda d, _now: d,
    *,
    ticks: list[datetime] | None = None,
) -> list[tuple[str, str]]:
    """Tick every minute from 09:00 to 18:00 (or at the given instants)."""
    done: set[str] = set()
    out: list[tuple[str, str]] = []
    instants = ticks or [at("09:00") + timedelta(minutes=i) for i in range(9 * 60 + 1)]
    for now in instants:
        day = update(day, now)
        for action in policy.decide(TickView((day,), done=frozenset(done)), now):
            assert action.key not in done
            done.add(action.key)
            out.append((hm(now), action.key))
            if isinstance(action, policy.Resolve):
                day = replace(day, open_alerts=day.open_alerts - {action.kind})
            if isinstance(action, policy.Escalate):
                day = replace(day, open_alerts=day.open_alerts | {action.kind})
    return out


def reports(start: str | None = None, end: str | None = None, absent: str | None = None) -> Update:
    def update(d: MemberDay, now: datetime) -> MemberDay:
        if absent and now >= at(absent) and d.status is ReportStatus.OPEN:
            return replace(d, status=ReportStatus.ABSENT)
        if start and now >= at(start) and d.status is ReportStatus.OPEN:
            d = replace(d, status=ReportStatus.STARTED, start_at=at(start))
        if end and now >= at(end) and d.status is ReportStatus.STARTED:
            d = replace(d, status=ReportStatus.ENDED, end_at=at(end))
        return d

    return update


K = "7:2026-07-01"


def test_on_time_member_gets_the_first_reminders_only() -> None:
    assert simulate(member(), reports(start="10:03", end="14:58")) == [
        ("10:00", f"remind:start:{K}:1"),
    ]


def test_member_who_ends_late_gets_the_evening_reminder_and_staff_hear_at_plus_60() -> None:
    assert simulate(member(), reports(start="09:55", end="16:20")) == [
        ("15:00", f"remind:end:{K}:1"),
        ("16:00", f"alert:missed-end:{K}:staff"),
        ("16:20", f"resolve:missed-end:{K}"),
    ]


def test_late_member_is_escalated_then_resolved_once() -> None:
    assert simulate(member(), reports(start="10:40", end="15:00")) == [
        ("10:00", f"remind:start:{K}:1"),
        ("10:15", f"remind:start:{K}:2"),
        ("10:30", f"alert:missed-start:{K}:staff"),
        ("10:40", f"resolve:missed-start:{K}"),
    ]


def test_member_who_never_reports_climbs_the_whole_ladder() -> None:
    assert simulate(member()) == [
        ("10:00", f"remind:start:{K}:1"),
        ("10:15", f"remind:start:{K}:2"),
        ("10:30", f"alert:missed-start:{K}:staff"),
        ("11:00", f"alert:missed-start:{K}:manager"),
    ]


def test_an_absence_notice_stops_the_reminders_and_resolves_a_missed_start() -> None:
    assert simulate(member(), reports(absent="10:05")) == [("10:00", f"remind:start:{K}:1")]
    assert simulate(member(), reports(absent="10:50")) == [
        ("10:00", f"remind:start:{K}:1"),
        ("10:15", f"remind:start:{K}:2"),
        ("10:30", f"alert:missed-start:{K}:staff"),
        ("10:50", f"resolve:missed-start:{K}"),
    ]


def test_member_without_a_linked_account_gets_no_reminder_but_staff_are_alerted() -> None:
    assert simulate(member(reachable=False)) == [
        ("10:30", f"alert:missed-start:{K}:staff"),
        ("11:00", f"alert:missed-start:{K}:manager"),
    ]


def test_public_holiday_and_facility_closure_skip_the_day() -> None:
    umi_no_hi = date(2026, 7, 20)  # 海の日, a Monday
    assert policy.is_holiday(umi_no_hi)
    holiday = member(business_date=umi_no_hi)
    ticks = [at("09:00", umi_no_hi) + timedelta(minutes=i) for i in range(0, 9 * 60, 5)]
    assert simulate(holiday, ticks=ticks) == []
    assert simulate(member(closed=True)) == []


def test_a_schedule_exception_beats_holidays_and_moves_the_times() -> None:
    umi_no_hi = date(2026, 7, 20)
    worked = member(
        business_date=umi_no_hi,
        from_exception=True,
        planned_start=time(13, 0),
        planned_end=time(16, 0),
    )
    ticks = [at("09:00", umi_no_hi) + timedelta(minutes=i) for i in range(9 * 60)]
    k = "7:2026-07-20"
    assert simulate(worked, ticks=ticks) == [
        ("13:00", f"remind:start:{k}:1"),
        ("13:15", f"remind:start:{k}:2"),
        ("13:30", f"alert:missed-start:{k}:staff"),
        ("14:00", f"alert:missed-start:{k}:manager"),
    ]
    assert simulate(member(mode=DayMode.OFF, from_exception=True)) == []
    assert simulate(member(mode=DayMode.TSUSHO)) == []


def test_the_ladder_is_configurable_per_facility() -> None:
    ladder = Ladder.from_json({"start_second": 10, "start_staff": 20, "start_manager": 45, "x": 1})
    assert simulate(member(ladder=ladder)) == [
        ("10:00", f"remind:start:{K}:1"),
        ("10:10", f"remind:start:{K}:2"),
        ("10:20", f"alert:missed-start:{K}:staff"),
        ("10:45", f"alert:missed-start:{K}:manager"),
    ]
    assert Ladder.from_json({"start_staff": "soon", "end_staff": True}) == Ladder()


@pytest.mark.parametrize(
    ("restart", "expected"),
    [
        # Down 09:50-10:20: the second reminder (fresh) replaces the stale first one.
        (
            "10:20",
            [
                ("10:20", "remind:start:{K}:2"),
                ("10:30", "alert:missed-start:{K}:staff"),
                ("11:00", "alert:missed-start:{K}:manager"),
            ],
        ),
        # Down until 11:10: escalations catch up at once, stale reminders are not sent.
        (
            "11:10",
            [
                ("11:10", "alert:missed-start:{K}:manager"),
                ("11:10", "alert:missed-start:{K}:staff"),
            ],
        ),
        # Down until after the planned end: no morning reminder in the afternoon.
        (
            "15:30",
            [
                ("15:30", "alert:missed-start:{K}:manager"),
                ("15:30", "alert:missed-start:{K}:staff"),
            ],
        ),
    ],
)
def test_a_late_tick_catches_up_escalations_but_not_stale_reminders(
    restart: str, expected: list[tuple[str, str]]
) -> None:
    ticks = [at("09:00"), at("09:50")] + [at(restart) + timedelta(minutes=i) for i in range(120)]
    assert simulate(member(), ticks=ticks) == [(t, k.format(K=K)) for t, k in expected]


def test_a_reminder_up_to_45_minutes_late_is_still_sent() -> None:
    ticks = [at("09:00"), at("10:44")]
    assert simulate(member(ladder=Ladder(start_second=60, start_staff=90)), ticks=ticks) == [
        ("10:44", f"remind:start:{K}:1")
    ]
    assert (
        simulate(member(ladder=Ladder(start_second=60, start_staff=90)), ticks=[at("10:46")]) == []
    )


def test_facility_digest_after_the_day_and_evaluation_reminders() -> None:
    thursday = date(2026, 6, 25)  # also the 25th
    fac = FacilityDay(1, thursday, JST, time(15, 0))
    view = TickView(facilities=(fac,))
    assert [a.key for a in policy.decide(view, at("08:59", thursday))] == []
    assert [a.key for a in policy.decide(view, at("16:29", thursday))] == [
        "evaluation-due:monthly:1:2026-06-01",
        "evaluation-due:weekly:1:2026-06-22",
    ]
    assert [a.key for a in policy.decide(view, at("16:30", thursday))] == [
        "digest:1:2026-06-25",
        "evaluation-due:monthly:1:2026-06-01",
        "evaluation-due:weekly:1:2026-06-22",
    ]
    wednesday = FacilityDay(1, DAY, JST, time(15, 0))
    assert [a.key for a in policy.decide(TickView(facilities=(wednesday,)), at("17:00"))] == [
        "digest:1:2026-07-01"
    ]
    closed = replace(wednesday, closed=True)
    assert policy.decide(TickView(facilities=(closed,)), at("17:00")) == []


def test_open_alerts_are_resolved_even_on_a_day_without_a_ladder() -> None:
    day = member(
        closed=True, status=ReportStatus.STARTED, open_alerts=frozenset({MissedKind.START})
    )
    assert [a.key for a in policy.decide(TickView((day,)), at("12:00"))] == [
        f"resolve:missed-start:{K}"
    ]


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(min_value=8 * 60, max_value=13 * 60),
    length=st.integers(min_value=60, max_value=8 * 60),
    reported=st.one_of(st.none(), st.integers(min_value=0, max_value=12 * 60)),
    ended=st.one_of(st.none(), st.integers(min_value=0, max_value=4 * 60)),
    reachable=st.booleans(),
    tick_minutes=st.lists(st.integers(min_value=0, max_value=14 * 60), min_size=1, max_size=40),
)
def test_policy_properties_over_random_days(
    start: int,
    length: int,
    reported: int | None,
    ended: int | None,
    reachable: bool,
    tick_minutes: list[int],
) -> None:
    """Duplicated, skipped and late ticks: at most one nudge of a phase at a time, none after
    the report or stale, and a missed start is escalated at the first tick after +30."""
    midnight = at("00:00")
    planned = midnight + timedelta(minutes=start)
    end = planned + timedelta(minutes=length)
    day = member(
        planned_start=time(start // 60, start % 60),
        planned_end=time((start + length) // 60, (start + length) % 60),
        reachable=reachable,
    )
    report_at = at("06:00") + timedelta(minutes=reported) if reported is not None else None
    end_at = report_at + timedelta(minutes=ended) if report_at and ended is not None else None
    ticks = sorted(at("06:00") + timedelta(minutes=m) for m in tick_minutes)
    done: set[str] = set()
    first_staff: datetime | None = None
    for now in ticks:
        status, s_at, e_at = ReportStatus.OPEN, None, None
        if report_at is not None and now >= report_at:
            status, s_at = ReportStatus.STARTED, report_at
            if end_at is not None and now >= end_at:
                status, e_at = ReportStatus.ENDED, end_at
        view = replace(day, status=status, start_at=s_at, end_at=e_at)
        actions = policy.decide(TickView((view,), done=frozenset(done)), now)
        keys = [a.key for a in actions]
        assert len(keys) == len(set(keys)) and not set(keys) & done
        done.update(keys)
        reminds = [a for a in actions if isinstance(a, policy.Remind)]
        assert len(reminds) <= 1
        for r in reminds:
            assert reachable and r.at <= now <= r.at + timedelta(minutes=45)
            if r.phase.value == "start":
                assert status is ReportStatus.OPEN and now < end
            else:
                assert status is ReportStatus.STARTED
        for a in actions:
            if a.key.endswith(":staff") and "missed-start" in a.key:
                first_staff = now
    late = report_at is None or report_at > planned + timedelta(minutes=30)
    after = [t for t in ticks if t >= planned + timedelta(minutes=30)]
    if late and after and (report_at is None or after[0] < report_at):
        assert first_staff == after[0]
    if not late:
        assert first_staff is None
