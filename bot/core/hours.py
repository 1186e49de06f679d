"""When staff are there, and whom a member in crisis can call: facility settings as pure data.

Both come from JSON columns of `facility` (`business_hours`, `crisis_contacts`) and are read
leniently: a malformed setting falls back to the defaults rather than silencing a crisis reply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import jpholiday

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class BusinessHours:
    """Staff answer members between `opens` and `closes` (local) on `weekdays` (0 = Monday),
    except on public holidays unless `holidays_open`."""

    opens: time = time(9, 0)
    closes: time = time(18, 0)
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    holidays_open: bool = False

    def is_open_day(self, day: date) -> bool:
        if day.weekday() not in self.weekdays:
            return False
        return self.holidays_open or not jpholiday.is_holiday(day)

    def is_open(self, local: datetime) -> bool:
        """`local` is a wall-clock instant in the facility's zone."""
        return self.is_open_day(local.date()) and self.opens <= local.time() < self.closes

    def next_open(self, local: datetime) -> datetime:
        """The next moment staff are back (`local` itself when open now)."""
        if self.is_open(local):
            return local
        day = local.date()
        if self.is_open_day(day) and local.time() < self.opens:
            return datetime.combine(day, self.opens, local.tzinfo)
        for ahead in range(1, 15):  # two weeks covers any closure of weekdays + holidays
            nxt = day + timedelta(days=ahead)
            if self.is_open_day(nxt):
                return datetime.combine(nxt, self.opens, local.tzinfo)
        return datetime.combine(day + timedelta(days=1), self.opens, local.tzinfo)

    def to_json(self) -> dict[str, Any]:
        return {
            "opens": self.opens.strftime("%H:%M"),
            "closes": self.closes.strftime("%H:%M"),
            "weekdays": [WEEKDAYS[d] for d in sorted(self.weekdays)],
            "holidays_open": self.holidays_open,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> BusinessHours:
        if not data:
            return cls()
        default = cls()
        opens = _hm(data.get("opens")) or default.opens
        closes = _hm(data.get("closes")) or default.closes
        if closes <= opens:
            opens, closes = default.opens, default.closes
        raw_days = data.get("weekdays")
        days = default.weekdays
        if isinstance(raw_days, list):
            picked = frozenset(WEEKDAYS.index(d) for d in raw_days if d in WEEKDAYS)
            days = picked or default.weekdays
        return cls(opens, closes, days, bool(data.get("holidays_open", False)))


@dataclass(frozen=True)
class CrisisContact:
    """A line a member can call at once: who, the number, and when it answers."""

    name: str
    phone: str
    hours: str = ""

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "phone": self.phone, "hours": self.hours}


# Public, nationwide and long-standing lines (厚生労働省 lists them on its まもろうよこころ page).
# A facility replaces them with its own (`nippo facility set --crisis-contact`), e.g. its
# after-hours phone or the local 精神科救急情報センター.
NATIONAL_CRISIS_CONTACTS = (
    CrisisContact("救急(命の危険があるとき)", "119", "24時間"),
    CrisisContact("よりそいホットライン", "0120-279-338", "24時間・無料"),
    CrisisContact("こころの健康相談統一ダイヤル", "0570-064-556", "受付時間は地域により異なります"),
)


def crisis_contacts_from_json(data: Sequence[Any] | None) -> tuple[CrisisContact, ...]:
    """The facility's contacts, or the national defaults when none (or none usable) are set."""
    out = []
    for item in data or ():
        if isinstance(item, Mapping) and item.get("name") and item.get("phone"):
            out.append(
                CrisisContact(str(item["name"]), str(item["phone"]), str(item.get("hours") or ""))
            )
    return tuple(out) or NATIONAL_CRISIS_CONTACTS


def _hm(raw: object) -> time | None:
    try:
        return time.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None
