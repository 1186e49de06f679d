"""The facility's calendar: which business date an instant falls on.

A business date is the wall-clock date in the facility's zone (Asia/Tokyo unless configured),
never the server's or UTC's: 00:30 JST on 2 July is 2 July, though UTC still says 1 July. Every
layer asks here, so "today" means the same day to the dialog, the ticks, the records and staff.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo


def business_date(tz: str, at: datetime) -> date:
    """The date in zone `tz` (an IANA name, e.g. "Asia/Tokyo") at the aware instant `at`."""
    if at.tzinfo is None:  # a naive time would silently be read in the server's zone
        raise ValueError("business_date needs an aware datetime")
    return at.astimezone(ZoneInfo(tz)).date()
