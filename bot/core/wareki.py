"""和暦 (Japanese era) dates for the forms the cities ask for, e.g. 令和8年7月1日.

Pure: the era table is data. The first year of an era is written 元年 (令和元年5月1日).
"""

from __future__ import annotations

from datetime import date

# (first day, era name), newest first.
ERAS: tuple[tuple[date, str], ...] = (
    (date(2019, 5, 1), "令和"),
    (date(1989, 1, 8), "平成"),
    (date(1926, 12, 25), "昭和"),
)


def era_year(d: date) -> str:
    """The era and year of a date: 令和8年, 令和元年, 平成31年."""
    for first, name in ERAS:
        if d >= first:
            year = d.year - first.year + 1
            return f"{name}{'元' if year == 1 else year}年"
    raise ValueError(f"no era known for {d.isoformat()}")


def wareki_month(d: date) -> str:
    """令和8年7月."""
    return f"{era_year(d)}{d.month}月"


def wareki_date(d: date) -> str:
    """令和8年7月1日."""
    return f"{wareki_month(d)}{d.day}日"
