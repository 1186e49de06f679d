"""The one business-date rule (bot.core.calendar): the facility's wall-clock date at an
instant, whatever zone the instant arrives in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bot.core.calendar import business_date

TOKYO = "Asia/Tokyo"  # UTC+9 all year: no daylight saving


@pytest.mark.parametrize(
    ("at", "day"),
    [
        (datetime(2026, 7, 1, 14, 59, 59, tzinfo=UTC), date(2026, 7, 1)),  # 23:59:59 JST
        (datetime(2026, 7, 1, 15, 0, tzinfo=UTC), date(2026, 7, 2)),  # 00:00 JST: the next day
        (datetime(2026, 7, 1, 15, 30, tzinfo=UTC), date(2026, 7, 2)),  # UTC still says 7/1
        (datetime(2026, 7, 1, 23, 59, tzinfo=UTC), date(2026, 7, 2)),
        (datetime(2026, 12, 31, 15, 0, tzinfo=UTC), date(2027, 1, 1)),  # New Year in Tokyo
        (datetime(2028, 2, 28, 15, 0, tzinfo=UTC), date(2028, 2, 29)),  # a leap day
    ],
)
def test_the_date_turns_at_midnight_in_tokyo_not_utc(at: datetime, day: date) -> None:
    assert business_date(TOKYO, at) == day


def test_the_instant_counts_not_the_zone_it_was_written_in() -> None:
    """A platform timestamp in any offset is the same moment, so the same business date."""
    moment = datetime(2026, 7, 1, 15, 30, tzinfo=UTC)
    for offset in (-12, -5, 0, 5.5, 9, 14):
        written = moment.astimezone(timezone(timedelta(hours=offset)))
        assert business_date(TOKYO, written) == date(2026, 7, 2)


def test_tokyo_has_no_daylight_saving_a_day_is_always_24_hours() -> None:
    """Every local midnight of 2026 is 15:00 UTC the day before (summer and winter alike)."""
    midnight = datetime(2025, 12, 31, 15, 0, tzinfo=UTC)
    for n in range(366):
        at = midnight + timedelta(days=n)
        assert business_date(TOKYO, at) == date(2026, 1, 1) + timedelta(days=n)
        assert business_date(TOKYO, at - timedelta(seconds=1)) == date(2026, 1, 1) + timedelta(
            days=n - 1
        )


def test_another_facility_zone_is_its_own_calendar() -> None:
    at = datetime(2026, 7, 1, 15, 30, tzinfo=UTC)
    assert business_date("UTC", at) == date(2026, 7, 1)
    assert business_date("Pacific/Honolulu", at) == date(2026, 7, 1)  # 05:30 HST
    assert business_date("Pacific/Kiritimati", at) == date(2026, 7, 2)  # UTC+14


def test_a_naive_time_is_refused_rather_than_read_in_the_servers_zone() -> None:
    with pytest.raises(ValueError, match="aware"):
        business_date(TOKYO, datetime(2026, 7, 1, 23, 30))  # noqa: DTZ001
