"""What the console's templates show, worked out from the read models: pure helpers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.core import texts
from bot.core.domain import FieldValue, ReportField, ReportStatus
from bot.queries.board import AlertItem, Board, BoardRow
from bot.queries.member_month import MonthDay
from bot.queries.record_lines import shown
from bot.services.records import ReportHistory

WEEKDAYS = texts.WEEKDAY_NAMES  # 月火水木金土日


@dataclass(frozen=True)
class FieldRow:
    field: str
    label: str
    shown: str  # as staff read it
    value: str  # what the edit form starts from (HH:MM for times)


def hhmm(at: datetime | None, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%H:%M") if at else ""


def edit_value(value: FieldValue, tz: str) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return hhmm(value, tz)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def field_rows(history: ReportHistory, tz: str) -> list[FieldRow]:
    return [
        FieldRow(
            f.value,
            texts.FIELD_LABELS.get(f.value, f.value),
            _shown(f, history.current.get(f.value), tz),
            edit_value(history.current.get(f.value), tz),
        )
        for f in ReportField
    ]


def _shown(field: ReportField, value: FieldValue, tz: str) -> str:
    if isinstance(value, datetime):
        return hhmm(value, tz)
    if field in (ReportField.HEALTH_START, ReportField.HEALTH_END) and isinstance(value, int):
        return f"{value} {texts.HEALTH_LABELS.get(value, '')}".strip()
    return shown(value, tz)


def revision_value(field: str, value: str | None, tz: str) -> str:
    """A revision's before/after: times in local HH:MM, sign-offs by who, '—' for none."""
    if field in (ReportField.START_AT.value, ReportField.END_AT.value) and value:
        try:
            return hhmm(datetime.fromisoformat(value), tz)
        except ValueError:
            return value
    return shown(value, tz)


def problem_first(board: Board) -> list[BoardRow]:
    """The board's rows, those that need someone first: an alert open, no start yet, a
    flagged day, then the rest in their order."""
    alerted = {a.member_id for a in board.alerts}

    def rank(r: BoardRow) -> int:
        if r.member_id in alerted:
            return 0
        if r.overdue_minutes is not None or (
            not board.is_today and r.report.status is ReportStatus.OPEN
        ):
            return 1
        return 2

    return sorted(board.rows, key=rank)


def alerts_first(items: Sequence[AlertItem]) -> list[AlertItem]:
    order = {"crisis": 0, "urgent": 1, "warning": 2, "info": 3}
    return sorted(items, key=lambda a: (a.state != "open", order.get(a.level, 9), a.opened_at))


@dataclass(frozen=True)
class Cell:
    day: date | None  # None: padding before the 1st or after the last day
    mark: str = ""
    label: str = ""


def calendar_weeks(days: Sequence[MonthDay]) -> list[list[Cell]]:
    """The month as weeks Monday to Sunday, padded."""
    if not days:
        return []
    cells = [Cell(None)] * days[0].day.weekday()
    cells += [Cell(d.day, d.mark, texts.CONSOLE_DAY_MARKS.get(d.mark, d.mark)) for d in days]
    cells += [Cell(None)] * (-len(cells) % 7)
    return [cells[i : i + 7] for i in range(0, len(cells), 7)]


def day_title(d: date) -> str:
    return f"{d.month}月{d.day}日({WEEKDAYS[d.weekday()]})"


def month_title(first: date) -> str:
    return f"{first.year}年{first.month}月"


def shift_month(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


# --- the month's 体調 and 睡眠 chart (inline SVG, drawn here so the page needs no script) ---

CHART_W, CHART_H = 640, 150
CHART_LEFT, CHART_TOP, CHART_BOTTOM = 36, 10, 24  # room for the axis labels


@dataclass(frozen=True)
class Series:
    label: str
    css: str  # the line's class (colour and dash live in console.css)
    lines: tuple[str, ...]  # SVG polyline points, one per run of days with a value
    dots: tuple[tuple[float, float, str], ...]  # x, y, "1日 4" (the text alternative)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    series: tuple[Series, ...]
    ticks: tuple[tuple[float, str], ...]  # y, label
    days: tuple[tuple[float, str], ...]  # x, day of month (every few days)
    width: int = CHART_W
    height: int = CHART_H


@dataclass(frozen=True)
class ChartRow:
    day: date
    values: tuple[str, ...]  # as the table shows them, "—" for none


def _number(value: FieldValue) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _chart(
    key: str,
    title: str,
    days: Sequence[MonthDay],
    fields: Sequence[tuple[ReportField, str, str]],
    top: float,
    ticks: Sequence[float],
    unit: str,
) -> Chart:
    plot_h = CHART_H - CHART_TOP - CHART_BOTTOM
    step = (CHART_W - CHART_LEFT) / max(len(days), 1)

    def x(i: int) -> float:
        return round(CHART_LEFT + step * (i + 0.5), 1)

    def y(v: float) -> float:
        return round(CHART_TOP + plot_h * (1 - min(max(v, 0), top) / top), 1)

    series = []
    for field, label, css in fields:
        lines: list[list[str]] = [[]]
        dots = []
        for i, d in enumerate(days):
            v = _number(d.history.current.get(field.value)) if d.history else None
            if v is None:
                if lines[-1]:
                    lines.append([])
                continue
            lines[-1].append(f"{x(i)},{y(v)}")
            dots.append((x(i), y(v), f"{d.day.day}日 {v:g}{unit}"))
        series.append(Series(label, css, tuple(" ".join(run) for run in lines if run), tuple(dots)))
    return Chart(
        key,
        title,
        tuple(series),
        tuple((y(t), f"{t:g}") for t in ticks),
        tuple((x(i), str(d.day.day)) for i, d in enumerate(days) if d.day.day % 5 in (0, 1)),
    )


def month_charts(days: Sequence[MonthDay]) -> tuple[Chart, Chart]:
    """体調 (1–5, at the start and the end of the day) and 睡眠 (hours, drawn up to 12)."""
    health = _chart(
        "health", texts.CONSOLE_CHART_HEALTH, days,
        ((ReportField.HEALTH_START, texts.FIELD_LABELS["health_start"], "start"),
         (ReportField.HEALTH_END, texts.FIELD_LABELS["health_end"], "end")),
        5, (1, 2, 3, 4, 5), "",
    )  # fmt: skip
    sleep = _chart(
        "sleep", texts.CONSOLE_CHART_SLEEP, days,
        ((ReportField.SLEEP_HOURS, texts.FIELD_LABELS["sleep_hours"], "start"),),
        12, (0, 4, 8, 12), "時間",
    )  # fmt: skip
    return health, sleep


CHART_FIELDS = (ReportField.HEALTH_START, ReportField.HEALTH_END, ReportField.SLEEP_HOURS)


def chart_rows(days: Sequence[MonthDay], tz: str) -> list[ChartRow]:
    """The charts' values as a table (their text alternative): the days with any value."""
    rows = []
    for d in days:
        if d.history is None:
            continue
        values = tuple(_shown(f, d.history.current.get(f.value), tz) for f in CHART_FIELDS)
        if any(d.history.current.get(f.value) is not None for f in CHART_FIELDS):
            rows.append(ChartRow(d.day, values))
    return rows
