"""和暦 for the city forms."""

from __future__ import annotations

from datetime import date

import pytest

from bot.core.wareki import era_year, wareki_date, wareki_month


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2026, 7, 1), "令和8年7月1日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(2020, 1, 1), "令和2年1月1日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(2024, 2, 29), "令和6年2月29日"),
    ],
)
def test_wareki_date(d: date, expected: str) -> None:
    assert wareki_date(d) == expected


def test_wareki_month_and_year() -> None:
    assert wareki_month(date(2026, 7, 31)) == "令和8年7月"
    assert wareki_month(date(2019, 12, 1)) == "令和元年12月"
    assert era_year(date(2031, 1, 1)) == "令和13年"
    with pytest.raises(ValueError):
        era_year(date(1900, 1, 1))
