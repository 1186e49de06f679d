"""The pure re-notification policy: untaken alerts, minute by minute, no database.

`play` ticks every minute over a span, records each due action as done (what the shell's
unique keys do) and returns (local "M/D HH:MM", key, audience) in the order they happened.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import policy
from bot.core.domain import AlertLevel
from bot.core.hours import BusinessHours
from bot.core.policy import Ladder, OpenAlert, Renotify, RenotifyAudience, TickView

JST = 9 * 60
ZONE = timezone(timedelta(minutes=JST))


def at(day: str, hhmm: str) -> datetime:
    return policy.local_moment(date.fromisoformat(day), time.fromisoformat(hhmm), JST)


def local(t: datetime) -> str:
    moment = t.astimezone(ZONE)
    return f"{moment.month}/{moment.day} {moment:%H:%M}"


def alert(**kw: object) -> OpenAlert:
    base = OpenAlert(
        alert_id=42,
        member_id=7,
        facility_id=1,
        kind="crisis",
        level=AlertLevel.CRISIS,
        opened_at=at("2026-07-01", "10:00"),
        tz_offset_minutes=JST,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def play(
    a: OpenAlert, start: datetime, minutes: int, *, taken_at: datetime | None = None
) -> list[tuple[str, str, str]]:
    done: set[str] = set()
    out = []
    for i in range(minutes + 1):
        now = start + timedelta(minutes=i)
        if taken_at is not None and now >= taken_at:
            a = replace(a, state="acked")
        for act in policy.decide(TickView(alerts=(a,), done=frozenset(done)), now):
            assert isinstance(act, Renotify)
            done.add(act.key)
            out.append((local(now), act.key, act.audience.value))
    return out


def test_crisis_ladder_10_20_then_every_30_until_taken() -> None:
    got = play(alert(), at("2026-07-01", "10:00"), 130)
    assert got == [
        ("7/1 10:10", "renotify:42:1", "primary"),
        ("7/1 10:20", "renotify:42:2", "managers"),
        ("7/1 10:50", "renotify:42:3", "managers"),
        ("7/1 11:20", "renotify:42:4", "managers"),
        ("7/1 11:50", "renotify:42:5", "managers"),
    ]


def test_taking_the_alert_stops_it() -> None:
    got = play(alert(), at("2026-07-01", "10:00"), 180, taken_at=at("2026-07-01", "10:35"))
    assert [k for _, k, _ in got] == ["renotify:42:1", "renotify:42:2"]
    assert play(alert(state="resolved"), at("2026-07-01", "10:00"), 120) == []


def test_urgent_and_missed_contact_urgent_alerts_follow_the_ladder_watch_and_info_do_not() -> None:
    urgent = alert(kind="missed_start", level=AlertLevel.URGENT)
    assert len(play(urgent, at("2026-07-01", "10:00"), 60)) == 3
    for level in (AlertLevel.WARNING, AlertLevel.INFO):
        quiet = alert(kind="low_health", level=level)
        assert play(quiet, at("2026-07-01", "10:00"), 24 * 60) == []


def test_outside_business_hours_the_ladder_still_fires_day_and_night() -> None:
    """A crisis at 23:30 on a Saturday re-notifies at 23:40, 23:50, 00:20 … (no hours)."""
    night = alert(opened_at=at("2026-07-04", "23:30"))
    got = play(night, at("2026-07-04", "23:30"), 60)
    assert [(t, k) for t, k, _ in got] == [
        ("7/4 23:40", "renotify:42:1"),
        ("7/4 23:50", "renotify:42:2"),
        ("7/5 00:20", "renotify:42:3"),
    ]


def test_a_late_tick_sends_the_latest_step_only_never_a_burst() -> None:
    a = alert()
    (first,) = policy.decide(TickView(alerts=(a,)), at("2026-07-01", "11:30"))
    assert isinstance(first, Renotify)
    assert (first.key, first.step, first.minutes_open) == ("renotify:42:4", 4, 90)
    assert first.at == at("2026-07-01", "11:20")  # when step 4 came due
    assert first.audience is RenotifyAudience.MANAGERS


def test_the_ladder_is_per_facility() -> None:
    ladder = Ladder.from_json({"renotify_primary": 5, "renotify_managers": 15, "renotify_every": 0})
    got = play(alert(ladder=ladder), at("2026-07-01", "10:00"), 300)
    assert [(t, k) for t, k, _ in got] == [
        ("7/1 10:05", "renotify:42:1"),
        ("7/1 10:15", "renotify:42:2"),  # renotify_every 0: no repeats after the managers
    ]


def consult(opened: datetime, **kw: object) -> OpenAlert:
    return alert(kind="consult", level=AlertLevel.WARNING, opened_at=opened, **kw)


def test_a_consult_waits_its_promise_in_business_minutes() -> None:
    got = play(consult(at("2026-07-01", "10:00")), at("2026-07-01", "10:00"), 90)
    assert got == [
        ("7/1 10:30", "renotify:42:1", "managers"),
        ("7/1 11:00", "renotify:42:2", "managers"),
        ("7/1 11:30", "renotify:42:3", "managers"),
    ]


def test_a_consult_after_hours_starts_the_clock_when_staff_are_back() -> None:
    """17:50 on a Friday: 10 business minutes that day, none over the weekend, the promise
    (30) is kept at 09:20 on Monday."""
    opened = at("2026-07-03", "17:50")  # a Friday; hours 09:00-18:00 mon-fri
    got = play(consult(opened), opened, 3 * 24 * 60)
    assert got[0][:2] == ("7/6 09:20", "renotify:42:1")
    assert all(t.startswith("7/6") for t, _, _ in got)  # nothing in the night or at the weekend
    assert [t for t, _, _ in got][:3] == ["7/6 09:20", "7/6 09:50", "7/6 10:20"]


def test_a_consult_due_at_closing_waits_for_the_morning() -> None:
    opened = at("2026-07-01", "17:30")
    hours = BusinessHours(time(9, 0), time(18, 0))
    got = play(consult(opened, hours=hours), opened, 16 * 60)
    assert got[0][:2] == ("7/2 09:00", "renotify:42:1")


def test_a_consult_promise_is_per_facility_and_taking_it_stops_it() -> None:
    ladder = Ladder.from_json({"consult_promise": 60})
    opened = at("2026-07-01", "10:00")
    got = play(consult(opened, ladder=ladder), opened, 120, taken_at=at("2026-07-01", "11:10"))
    assert [(t, k) for t, k, _ in got] == [("7/1 11:00", "renotify:42:1")]


def test_business_minutes_skip_nights_weekends_and_holidays() -> None:
    hours = BusinessHours()
    z = ZONE
    fri = datetime(2026, 7, 17, 17, 0, tzinfo=z)  # Friday; Monday 7/20 is 海の日
    tue = datetime(2026, 7, 21, 9, 30, tzinfo=z)
    assert policy.business_minutes(fri, tue, hours) == 60 + 30
    assert policy.add_business_minutes(fri, 90, hours) == tue
    assert policy.add_business_minutes(datetime(2026, 7, 18, 3, 0, tzinfo=z), 0, hours) == (
        datetime(2026, 7, 21, 9, 0, tzinfo=z)
    )


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1),  # noqa: DTZ001 - naive bounds, zoned below
        max_value=datetime(2026, 12, 31),  # noqa: DTZ001
    ),
    minutes=st.integers(min_value=0, max_value=5000),
)
def test_adding_business_minutes_and_counting_them_agree(start: datetime, minutes: int) -> None:
    hours = BusinessHours()
    begin = start.replace(second=0, microsecond=0, tzinfo=ZONE)
    end = policy.add_business_minutes(begin, minutes, hours)
    assert policy.business_minutes(begin, end, hours) == minutes
    assert end.astimezone(UTC) >= begin.astimezone(UTC)
