"""Records as evidence, the pure rules: when an entry is a 事後記録, which moments may not be
recorded yet (the future), whom an `entered_by` names, and which staff texts an inspector would
read as empty or copied.

Every record keeps the moment it describes apart from the moment it was entered (the server
clock). An entry made more than the facility's grace (default 24 h) after the moment it
describes is allowed but marked 事後記録 wherever it appears; a day-level record (a 日報 change,
an evaluation, a sign-off) describes its whole business date, so its grace runs from the end of
that date in the facility's zone.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.core import parsing
from bot.core.calendar import business_date

# A clock a few minutes ahead on the caller's side (a phone, an operator's laptop) is not the
# future; anything beyond is a typo or an attempt to record what has not happened.
FUTURE_SKEW = timedelta(minutes=5)

BOT = "bot"
VAGUE = "vague"  # empty, 特になし, いつも通り, "-" (bot.core.parsing.is_vague)
EMPTY = "empty"  # a field the form requires, left blank
SAME_AS_PREVIOUS = "same_as_previous"  # identical to the previous entry of its kind


def is_late(describes: datetime, entered: datetime, grace_hours: int) -> bool:
    """True when the entry came more than `grace_hours` after the moment it describes."""
    return entered - describes > timedelta(hours=grace_hours)


def day_end(day: date, tz: str) -> datetime:
    """The first instant after a business date in the facility's zone."""
    return datetime.combine(day + timedelta(days=1), time(0), ZoneInfo(tz))


def is_late_for_day(day: date, entered: datetime, grace_hours: int, tz: str) -> bool:
    """A record about a whole day (its 日報, an evaluation): late after the day end + grace."""
    return is_late(day_end(day, tz), entered, grace_hours)


def is_future(describes: datetime, now: datetime) -> bool:
    return describes > now + FUTURE_SKEW


def is_future_day(day: date, now: datetime, tz: str) -> bool:
    return day > business_date(tz, now)


def staff_ref(staff_id: int) -> str:
    return f"staff:{staff_id}"


def member_ref(member_id: int) -> str:
    return f"member:{member_id}"


def parse_ref(entered_by: str | None) -> tuple[str, int | None]:
    """("staff", 3) for "staff:3", ("member", 5), ("bot", None); unknown text is the bot's."""
    kind, _, ident = (entered_by or BOT).partition(":")
    if kind in ("staff", "member") and ident.isdigit():
        return kind, int(ident)
    return BOT, None


def local(at: datetime | None, tz: str) -> str:
    """An instant as staff read it: 2026-07-01 10:02 in the facility's zone ('' for none)."""
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if at else ""


def text_flag(
    text: str | None, previous: str | None = None, *, required: bool = True
) -> str | None:
    """Why an inspector would doubt a staff text, or None when it reads as a real record.

    Empty text is flagged only where the form requires it; 「特になし」 and the like always are;
    a copy of the previous entry of the same kind (full-width forms and spacing ignored) is too.
    """
    if text is None or not text.strip():
        return EMPTY if required else None
    if parsing.is_vague(text):
        return VAGUE
    if previous and parsing.normalize(previous) == parsing.normalize(text):
        return SAME_AS_PREVIOUS
    return None
