"""The pure rules of records as evidence (bot.core.provenance): 事後記録, the future, who
entered it, and the staff texts an inspector would doubt."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.core import provenance
from bot.services.records import sheet_flags

T = datetime(2026, 7, 1, 4, 0, tzinfo=UTC)  # 13:00 in Tokyo
TZ = "Asia/Tokyo"


@pytest.mark.parametrize(
    ("entered", "grace", "late"),
    [
        (T, 24, False),
        (T + timedelta(hours=24), 24, False),  # exactly the grace: still on time
        (T + timedelta(hours=24, seconds=1), 24, True),
        (T + timedelta(hours=30), 48, False),  # the facility's own grace
        (T + timedelta(minutes=1), 0, True),  # grace 0: anything after the moment is late
    ],
)
def test_a_record_is_late_after_the_grace(entered: datetime, grace: int, late: bool) -> None:
    assert provenance.is_late(T, entered, grace) is late


def test_a_days_record_has_its_grace_from_the_end_of_that_day() -> None:
    """An evaluation or a 日報 change describes its whole date (facility zone): on 7/3 it may
    be entered until 7/5 00:00 Tokyo time with a 24 h grace."""
    day = date(2026, 7, 3)
    end = provenance.day_end(day, TZ)
    assert end == datetime(2026, 7, 3, 15, 0, tzinfo=UTC)  # 7/4 00:00 JST
    assert not provenance.is_late_for_day(day, end + timedelta(hours=24), 24, TZ)
    assert provenance.is_late_for_day(day, end + timedelta(hours=24, minutes=1), 24, TZ)


def test_the_future_is_refused_beyond_a_small_clock_skew() -> None:
    assert not provenance.is_future(T + timedelta(minutes=5), T)
    assert provenance.is_future(T + timedelta(minutes=5, seconds=1), T)
    # 23:30 UTC on 6/30 is already 7/1 in Tokyo: today, not the future
    late_evening = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    assert not provenance.is_future_day(date(2026, 7, 1), late_evening, TZ)
    assert provenance.is_future_day(date(2026, 7, 2), late_evening, TZ)


def test_who_entered_it() -> None:
    assert provenance.parse_ref(provenance.staff_ref(3)) == ("staff", 3)
    assert provenance.parse_ref(provenance.member_ref(5)) == ("member", 5)
    assert provenance.parse_ref("bot") == ("bot", None)
    assert provenance.parse_ref("cli") == ("bot", None)  # an old row from before staff ids
    assert provenance.local(T, TZ) == "2026-07-01 13:00"


@pytest.mark.parametrize(
    ("text", "previous", "required", "flag"),
    [
        ("体調と作業の進み具合を電話で確認", None, True, None),
        ("特になし", None, True, "vague"),
        ("特に無し。", None, True, "vague"),
        ("-", None, True, "vague"),
        ("", None, True, "empty"),
        ("", None, False, None),
        ("体調を確認", "体調を確認", True, "same_as_previous"),
        ("体調を確認", "体調を確認 ", True, "same_as_previous"),  # spacing is no difference
        ("体調を確認", "睡眠を確認", True, None),
    ],
)
def test_doubtful_staff_texts(
    text: str, previous: str | None, required: bool, flag: str | None
) -> None:
    assert provenance.text_flag(text, previous, required=required) == flag


def test_sheet_flags_for_weekly_and_monthly_evaluations() -> None:
    sheet = {"goal": "毎日4時間の作業", "achievement": "特になし", "activities": "入力作業"}
    monthly = sheet_flags("monthly", sheet, {"activities": "入力作業"})
    assert monthly == {
        "activities": "same_as_previous",
        "achievement": "vague",
        "issues": "empty",
        "plan": "empty",
        "health_notes": "empty",
        "continuation": "empty",
    }
    # the training goal is meant to stay the same from month to month
    assert "goal" not in sheet_flags("monthly", sheet, {"goal": "毎日4時間の作業"})
    # weekly: blanks are fine, 「特になし」 is not, and some content is needed
    assert sheet_flags("weekly", {"activities": "通所で入力作業を確認"}, {}) == {}
    assert sheet_flags("weekly", {"activities": "特になし"}, {}) == {"activities": "vague"}
    assert sheet_flags("weekly", {}, {}) == {"activities": "empty"}
