"""Pure Block Kit rendering: read models and neutral replies in, JSON-ready dicts out.

Everything a member or staff typed is escaped (&, <, >) before it goes into mrkdwn, so a name
or a message cannot become a link or a mention. Every function stays within Slack's limits
(50 blocks a message, 100 a view, 3000 characters a section text, 10 fields a section, 75 a
button label); long boards are split into several messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import date, datetime, time
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from bot.core import texts
from bot.core.domain import (
    ALERT_RESOLUTION_METHODS,
    AlertLevel,
    AlertState,
    Reply,
    ReportSnapshot,
    ReportStatus,
)
from bot.queries.board import (
    AlertItem,
    Board,
    BoardRow,
    ReportView,
    Revision,
    Standing,
    WeekRow,
)
from bot.services.alert_actions import QUIET_KINDS
from bot.services.consent import OPERATIONAL_ALERT_KINDS
from bot.services.emergency_contacts import EmergencyContact
from bot.services.emergency_contacts import line as contact_line

# The 対応済み form's choices (電話 first), the words bot/services/alert_actions.py accepts.
RESOLVE_METHODS = tuple(texts.CONTACT_METHOD_LABELS[m] for m in ALERT_RESOLUTION_METHODS)

Block = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTIONS = 25
MAX_CONTEXT_TEXT = 3000
MAX_MODAL_TITLE = 24
MAX_FALLBACK_TEXT = 3000
USER_TEXT = 300  # how much of a free-text answer a board shows

ACTION_TAKE = "alert_take"
ACTION_RESOLVE = "alert_resolve"
ACTION_MESSAGE = "alert_message"  # 「メッセージを送る」: opens the message form
ACTION_MESSAGE_TEMPLATE = "alert_message_template"  # a 文例 chosen in that form
ACTION_CALL_LOG = "alert_call_log"  # 「電話・ビデオを記録」 on an alert (value: the alert id)
ACTION_MEMBER_MESSAGE = "member_message"  # 「メッセージを送る」 without an alert (a member id)
ACTION_MEMBER_CALL_LOG = "member_call_log"  # 「電話・ビデオを記録」 without an alert (a member id)
ACTION_BOARD_MESSAGE = "board_message"  # the board's 「メッセージを送る相手」 menu (member ids)
MAX_SELECT_OPTIONS = 100
MAX_OPTION_TEXT = 75
ACTION_CHECKIN = "checkin"  # prefix; DM buttons are checkin:0, checkin:1 …
VIEW_RESOLVE = "alert_resolve_view"
VIEW_MESSAGE = "alert_message_view"
MESSAGE_TEXT = "message_text"  # the form's text block id (then ":N", see message_modal)
MESSAGE_MAX = 1000
LEVEL_ICONS = {"crisis": "🆘", "urgent": "🔴", "warning": "🟠", "info": "🔵"}
CRISIS = AlertLevel.CRISIS.value
INFO = AlertLevel.INFO.value
MENTIONABLE = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # a Slack user id, nothing that could escape


def mention_section(user_ids: Sequence[str]) -> list[Block]:
    """A section that really mentions people (`<@U…>`): the one place mention syntax is
    written unescaped, from Slack user ids only (never from anything a person typed)."""
    ids = [u for u in dict.fromkeys(user_ids) if MENTIONABLE.fullmatch(u)]
    return [section(" ".join(f"<@{u}>" for u in ids))] if ids else []


def alert_title(a: AlertItem) -> str:
    """「【体調がすぐれないとの回答】」; a crisis reads 「【至急】命に関わるおそれのある…」."""
    if a.level == CRISIS:
        return f"【{texts.LEVEL_LABELS[CRISIS]}】{escape(a.title)}"
    return f"【{escape(a.title)}】"


# Bidirectional controls make 「山田」 display as something else (or hide what follows):
# nothing a person types here needs them.
BIDI_CONTROLS = dict.fromkeys(
    [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)


def escape(text: str) -> str:
    """Slack's three control characters for mrkdwn and plain text alike, and no bidi tricks."""
    text = text.translate(BIDI_CONTROLS)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def user(text: str | None, limit: int = USER_TEXT) -> str:
    """Free text from a person, escaped and shortened (escaping first, so '&amp;' is whole)."""
    if not text:
        return texts.NOT_YET
    return clip(escape(text), limit)


def section(text: str, fields: Sequence[str] = ()) -> Block:
    block: Block = {"type": "section"}
    if text or not fields:
        block["text"] = _mrkdwn(clip(text, MAX_SECTION_TEXT) or texts.NOT_YET)
    if fields:
        block["fields"] = [_mrkdwn(clip(f, MAX_FIELD_TEXT)) for f in fields[:MAX_FIELDS]]
    return block


def context(text: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(clip(text, MAX_CONTEXT_TEXT))]}


def divider() -> Block:
    return {"type": "divider"}


def button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    b: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(label, MAX_BUTTON_TEXT), "emoji": True},
        "action_id": action_id,
        "value": value[:MAX_BUTTON_VALUE],
    }
    if style:
        b["style"] = style
    return b


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str, limit: int = 150) -> Block:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def hm(at: datetime | None, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%H:%M") if at else texts.NOT_YET


def md(d: date) -> str:
    return f"{d.month}/{d.day}({'月火水木金土日'[d.weekday()]})"


def duration(minutes: int) -> str:
    h, m = divmod(minutes, 60)
    return f"{h}時間{m}分" if h else f"{m}分"


def split(groups: Sequence[Sequence[Block]], limit: int = MAX_MESSAGE_BLOCKS) -> list[list[Block]]:
    """Pack groups of blocks into messages of at most `limit` blocks, never splitting a group."""
    messages: list[list[Block]] = []
    current: list[Block] = []
    for group in groups:
        if current and len(current) + len(group) > limit:
            messages.append(current)
            current = []
        current.extend(group[:limit])
    if current:
        messages.append(current)
    return messages


# --- the status board ----------------------------------------------------------------------


def board_messages(
    board: Board, *, full: bool = True, details: AbstractSet[int] | None = None
) -> list[list[Block]]:
    """The day's board, problems first, one compact line per member: one message for a
    facility's usual size (40 members), more only past Slack's 50 blocks; every member
    appears exactly once, and every open alert (on its member's line, or listed below).
    Not `full` (minimal disclosure): who and in what state, no answers or notes; `details`:
    the members whose answers may show (their consent covers Slack), None for everyone."""
    messages = split(_board_groups(board, full, details), MAX_MESSAGE_BLOCKS - 1)
    if len(messages) > 1:  # room was kept for the "(2/3)" line
        for i, blocks in enumerate(messages[1:], start=2):
            note = texts.BOARD_CONTINUED.format(part=i, parts=len(messages))
            blocks.insert(0, context(f"{escape(board.facility_name)} {md(board.day)} {note}"))
    if board.rows:  # a button a row would not fit Block Kit: one menu of them, at the end
        if len(messages[-1]) >= MAX_MESSAGE_BLOCKS:
            messages.append([])
        messages[-1].append(board_message_menu(board.ranked))
    return messages


def board_message_menu(rows: Sequence[BoardRow]) -> Block:
    """「メッセージを送る相手」: the board's members (problems first, as many as a menu holds);
    choosing one opens the 「メッセージを送る」 form for them."""
    options = [
        {"text": _plain(escape(r.name), MAX_OPTION_TEXT), "value": str(r.member_id)}
        for r in rows[:MAX_SELECT_OPTIONS]
    ]
    menu = {
        "type": "static_select",
        "action_id": ACTION_BOARD_MESSAGE,
        "placeholder": _plain(texts.STAFF_MESSAGE_PICK),
        "options": options,
    }
    return {"type": "actions", "block_id": "board_message", "elements": [menu]}


def board_fallback(board: Board) -> str:
    return _board_title(board)


def _board_title(board: Board) -> str:
    title = texts.PLAN_BOARD_TITLE if board.plan else texts.BOARD_TITLE
    mine = texts.BOARD_MINE if board.mine else ""
    return title.format(date=md(board.day), facility=escape(board.facility_name)) + mine


def _board_groups(board: Board, full: bool, details: AbstractSet[int] | None) -> list[list[Block]]:
    """The head, then one group of sections per standing (its lines, 3000 characters a
    section at most), then the open alerts no line shows."""
    groups: list[list[Block]] = [_board_head(board)]
    for standing, rows in groupby(board.ranked, key=lambda r: r.standing):
        members = list(rows)
        label = texts.BOARD_GROUPS[standing.name.lower()]
        lines = [f"*{STANDING_ICONS[standing]} {label}({len(members)}名)*"]
        for r in members:
            lines.append(
                board_line(r, board, full=full and (details is None or r.member_id in details))
            )
        groups.append([section(chunk) for chunk in _chunks(lines, MAX_SECTION_TEXT - 100)])
    inline = {a.alert_id for r in board.rows for a in r.alerts}
    on_board = {r.member_id for r in board.rows}
    others = [
        a
        for a in board.alerts
        if a.alert_id not in inline and not (a.member_id in on_board and a.level == INFO)
    ]
    if others:
        head = f"*{texts.BOARD_OTHER_ALERTS.format(count=len(others))}*"
        lines = [head, *(_alert_line(a, board.tz) for a in others)]
        groups.append([section(chunk) for chunk in _chunks(lines, MAX_SECTION_TEXT - 100)])
    return groups


def _board_head(board: Board) -> list[Block]:
    if board.plan:
        count = texts.PLAN_BOARD_COUNT.format(total=len(board.rows))
    else:
        count = texts.BOARD_COUNT.format(
            total=len(board.rows),
            started=board.count(ReportStatus.STARTED),
            ended=board.count(ReportStatus.ENDED),
            absent=board.count(ReportStatus.ABSENT),
            missing=board.missing,
        )
        if ending := board.count(ReportStatus.ENDING):
            count += texts.BOARD_COUNT_ENDING.format(ending=ending)
    head = [section(f"*{_board_title(board)}*"), context(count)]
    if not board.rows:
        head.append(section(texts.BOARD_EMPTY))
    head.append(divider())
    return head


BOARD_NAME = 40  # characters of a name on a board line
BOARD_TEXT = 30  # … and of a free-text answer


def board_line(row: BoardRow, board: Board, *, full: bool = True) -> str:
    """One member on one line: state, open alerts (who has them), how late, and when `full`
    the times, 体調 and the work in a few words."""
    r = row.report
    status = texts.STATUS_LABELS.get(r.status.value, r.status.value)
    parts = [f"{_line_icon(row)} *{escape(clip(row.name, BOARD_NAME))}*  {status}"]
    for a in row.alerts:
        taken = f"(👤{escape(a.acked_by)})" if a.acked_by else ""
        parts.append(f"{LEVEL_ICONS.get(a.level, '•')}{escape(a.title)}{taken}")
    if row.overdue_minutes is not None:
        missing = texts.BOARD_MISSING.format(duration=duration(row.overdue_minutes))
        parts.append(missing if board.is_today else texts.BOARD_MISSING_PAST)
    if not full:
        return "  ".join(parts)
    if r.status is ReportStatus.ABSENT:
        if row.absence_note:
            parts.append(user(row.absence_note, BOARD_TEXT))
        return "  ".join(parts)
    if r.start_at is None and r.end_at is None:  # nothing reported yet: just the plan
        parts.append(texts.PLANNED.format(time=f"{_hm(row.planned_start)}〜{_hm(row.planned_end)}"))
        return "  ".join(parts)
    parts.append(f"{hm(r.start_at, board.tz)}〜{hm(r.end_at, board.tz) if r.end_at else ''}")
    health = r.health_end if r.health_end is not None else r.health_start
    if health is not None:
        parts.append(texts.BOARD_HEALTH.format(health=health))
    if r.status is ReportStatus.ENDED and r.outputs:
        parts.append(user(r.outputs, BOARD_TEXT))
    elif r.planned_work:
        parts.append(user(r.planned_work, BOARD_TEXT))
    return "  ".join(parts)


# An icon for each standing; a line with alerts shows its worst alert's instead.
STANDING_ICONS = {
    Standing.ALERT: "🔴",
    Standing.MISSING: "⏰",
    Standing.WORRYING: "🟠",
    Standing.WORKING: "🟢",
    Standing.UPCOMING: "⚪",
    Standing.ENDED: "✅",
    Standing.ABSENT: "💤",
}


def _line_icon(row: BoardRow) -> str:
    if row.alerts and row.standing is Standing.ALERT:
        return LEVEL_ICONS.get(row.alerts[0].level, "•")
    return STANDING_ICONS[row.standing]


def _hm(t: time | None) -> str:
    return t.strftime("%H:%M") if t is not None else texts.NOT_YET


def _answer_fields(
    r: ReportSnapshot, tz: str, planned_start: time | None = None, planned_end: time | None = None
) -> list[str]:
    labels = texts.FIELD_LABELS

    def with_plan(at: datetime | None, plan: time | None) -> str:
        shown = hm(at, tz)
        if plan is not None:
            shown += f"({texts.PLANNED.format(time=plan.strftime('%H:%M'))})"
        return shown

    health = (
        f"{r.health_start} {texts.HEALTH_LABELS.get(r.health_start, '')}"
        if r.health_start is not None
        else texts.NOT_YET
    )
    sleep = f"{r.sleep_hours:g}時間" if r.sleep_hours is not None else texts.NOT_YET
    return [
        f"*{labels['start_at']}*\n{with_plan(r.start_at, planned_start)}",
        f"*{labels['health_start']}*\n{health}",
        f"*{labels['sleep_hours']}*\n{sleep}",
        f"*{labels['planned_work']}*\n{user(r.planned_work)}",
        f"*{labels['end_at']}*\n{with_plan(r.end_at, planned_end)}",
        f"*{labels['outputs']}*\n{user(r.outputs)}",
    ]


def _alert_line(a: AlertItem, tz: str) -> str:
    line = (
        f"{LEVEL_ICONS.get(a.level, '•')} *{escape(a.title)}* {escape(a.member_name)}さん"
        f"  {texts.ALERT_SINCE.format(time=hm(a.opened_at, tz))}"
    )
    if a.acked_by:
        line += "\n" + texts.ALERT_TAKEN_BY.format(name=escape(a.acked_by), time=hm(a.acked_at, tz))
    return line


# --- alerts --------------------------------------------------------------------------------


def alert_blocks(
    a: AlertItem,
    tz: str,
    latest: ReportSnapshot | None = None,
    *,
    full: bool = True,
    withheld: bool = False,
    contacts: Sequence[EmergencyContact] | None = None,
    detail: bool | None = None,
) -> list[Block]:
    """An alert message: who, what, since when, the latest answers, and the staff buttons.

    Not `full`: no answers, and no detail unless `detail` says so (Nippo's own sentence about
    a missed contact); `withheld`: say it is for want of the member's consent. `contacts`
    (urgent and crisis alerts): the member's emergency contacts while the alert is not
    resolved, their notes only when `full` (a note may be about health)."""
    level = texts.LEVEL_LABELS.get(a.level, a.level)
    head = (
        f"{LEVEL_ICONS.get(a.level, '•')} *{alert_title(a)}* {escape(a.member_name)}さん  ({level})"
    )
    if (full if detail is None else detail) and a.detail:
        head += f"\n{user(a.detail, 1000)}"
    blocks = [section(head, [f"*{texts.ALERT_SINCE_LABEL}*\n{_when(a.opened_at, tz)}"])]
    if full and latest is not None:
        blocks.append(section(f"*{texts.ALERT_LATEST}*", _answer_fields(latest, tz)))
    if withheld and not full:
        blocks.append(context(texts.ALERT_DETAILS_NEED_CONSENT))
    if a.state == AlertState.RESOLVED:
        blocks.append(context(_resolved_line(a, tz)))
        return blocks
    if contacts is not None:
        blocks.append(contacts_section(contacts, notes=full))
    if a.acked_by:
        blocks.append(
            context(texts.ALERT_TAKEN_BY.format(name=escape(a.acked_by), time=hm(a.acked_at, tz)))
        )
    if a.kind in QUIET_KINDS:  # an absence or early finish informs; nobody need act
        return blocks
    buttons = []
    if a.state == AlertState.OPEN:
        buttons.append(button(texts.ALERT_TAKE, ACTION_TAKE, str(a.alert_id), "primary"))
    buttons.append(button(texts.STAFF_MESSAGE_BUTTON, ACTION_MESSAGE, str(a.alert_id)))
    buttons.append(button(texts.CALL_LOG_BUTTON, ACTION_CALL_LOG, str(a.alert_id)))
    buttons.append(button(texts.ALERT_DONE, ACTION_RESOLVE, str(a.alert_id)))
    blocks.append({"type": "actions", "block_id": f"alert:{a.alert_id}", "elements": buttons})
    return blocks


def contacts_section(contacts: Sequence[EmergencyContact], *, notes: bool) -> Block:
    """「緊急連絡先」 with one line per contact (escaped: staff typed them)."""
    if not contacts:
        return context(texts.ALERT_NO_EMERGENCY_CONTACTS)
    lines = [f"• {escape(contact_line(c, note=notes))}" for c in contacts]
    return section(clip(f"*{texts.ALERT_EMERGENCY_CONTACTS}*\n" + "\n".join(lines), 3000))


# bot.services.ticks: the member's own late report (or absence) closed it
LATE_REPORT = "late_report"


def _resolved_line(a: AlertItem, tz: str) -> str:
    if a.resolved_by is None and a.resolution == LATE_REPORT:
        return texts.ALERT_RESOLVED_BY_REPORT.format(time=hm(a.resolved_at, tz))
    return texts.ALERT_RESOLVED_BY.format(
        name=escape(a.resolved_by or ""),
        time=hm(a.resolved_at, tz),
        resolution=user(a.resolution, 500),
    )


def renotify_head(level: str, minutes: int, *, consult: bool) -> Block:
    """The line above a re-notified alert: its level and how long it has waited."""
    if consult:
        return section(texts.RENOTIFY_CONSULT_HEAD.format(duration=duration(minutes)))
    label = texts.LEVEL_LABELS.get(level, level)
    return section(texts.RENOTIFY_HEAD.format(level=escape(label), duration=duration(minutes)))


# A digest's own blocks besides its lines: its title; the sender adds a mention line and,
# after an outage, a late note. What is left of 50 is one line per alert.
DIGEST_FRAME_BLOCKS = 1
ACTION_MENU = "alert_menu"  # a digest line's overflow menu; option values as `menu_value`


def menu_value(action_id: str, alert_id: int) -> str:
    """An overflow option's value: the button it stands for and that button's value."""
    return f"{action_id}|{alert_id}"


def parse_menu(value: str) -> tuple[str, str]:
    action_id, _, alert_value = value.partition("|")
    return action_id, alert_value


def digest_blocks(
    items: Sequence[AlertItem],
    tz: str,
    *,
    full: bool = True,
    details: AbstractSet[int] | None = None,
    withheld: AbstractSet[int] = frozenset(),
    contacts: Mapping[int, Sequence[EmergencyContact]] | None = None,
) -> list[Block]:
    """Several members' alerts in one message (a burst at 10:30), compactly: one section per
    alert with an overflow menu of its actions (the buttons' own action ids and values), so
    45 fit in Slack's 50 blocks. `details`: the members whose details may show (None:
    everyone, as `full` says); `withheld`: members kept short for want of consent;
    `contacts`: by alert id (urgent and crisis alerts)."""
    blocks = [section(f"*{texts.ALERT_DIGEST_TITLE.format(count=len(items))}*")]
    for a in items:
        shown = full if details is None else a.member_id in details
        operational = a.kind in OPERATIONAL_ALERT_KINDS
        line = digest_line(
            a,
            tz,
            detail=shown or operational,
            contacts=(contacts or {}).get(a.alert_id),
            notes=shown,
            withheld=a.member_id in withheld and not operational,
        )
        blocks.append(line)
    return blocks[:MAX_MESSAGE_BLOCKS]


def digest_line(
    a: AlertItem,
    tz: str,
    *,
    detail: bool,
    contacts: Sequence[EmergencyContact] | None = None,
    notes: bool = False,
    withheld: bool = False,
) -> Block:
    """One alert of a digest: who, what, since when, who has it or how it ended; while it is
    open an overflow menu of 対応します / メッセージを送る / 対応済み. `withheld`: say the
    details are not shown for want of the member's consent."""
    head = (
        f"{LEVEL_ICONS.get(a.level, '•')} *{alert_title(a)}* {escape(a.member_name)}さん"
        f"  {texts.ALERT_SINCE.format(time=hm(a.opened_at, tz))}"
    )
    lines = [head]
    if detail and a.detail:
        lines.append(user(a.detail, 300))
    if withheld:
        lines.append(texts.ALERT_DETAILS_NEED_CONSENT)
    if a.state == AlertState.RESOLVED:
        lines.append(_resolved_line(a, tz))
        return {**section("\n".join(lines)), "block_id": f"alert:{a.alert_id}"}
    if contacts is not None:
        listed = " ".join(f"• {escape(contact_line(c, note=notes))}" for c in contacts)
        none = texts.ALERT_NO_EMERGENCY_CONTACTS
        lines.append(f"*{texts.ALERT_EMERGENCY_CONTACTS}* {listed}" if listed else none)
    if a.acked_by:
        lines.append(texts.ALERT_TAKEN_BY.format(name=escape(a.acked_by), time=hm(a.acked_at, tz)))
    block = {**section("\n".join(lines)), "block_id": f"alert:{a.alert_id}"}
    if a.kind in QUIET_KINDS:  # informs; nobody need act
        return block
    options = []
    if a.state == AlertState.OPEN:
        options.append(_option_of(texts.ALERT_TAKE, menu_value(ACTION_TAKE, a.alert_id)))
    options.append(_option_of(texts.STAFF_MESSAGE_BUTTON, menu_value(ACTION_MESSAGE, a.alert_id)))
    options.append(_option_of(texts.ALERT_DONE, menu_value(ACTION_RESOLVE, a.alert_id)))
    block["accessory"] = {"type": "overflow", "action_id": ACTION_MENU, "options": options}
    return block


def _option_of(label: str, value: str) -> Block:
    return {"text": _plain(label, 75), "value": value}


def member_day_blocks(
    a: AlertItem, groups: Sequence[Sequence[Block]], count: int, day: date
) -> list[Block]:
    """One member's alerts of one day in one message: a head line, then each alert's own
    blocks (its caller orders them, most serious open one first); `a`: the one on top."""
    head = texts.MEMBER_DAY_TITLE.format(name=escape(a.member_name), date=md(day), count=count)
    blocks: list[Block] = [section(f"*{head}*")]
    for group in groups:
        blocks.append(divider())
        blocks.extend(group)
    return blocks[:MAX_MESSAGE_BLOCKS]


LEVEL_RANK = {"crisis": 0, "urgent": 1, "warning": 2, "info": 3}


def latest_first(items: Sequence[AlertItem]) -> list[AlertItem]:
    """Open (or taken) before closed, the most serious first, then the newest."""
    return sorted(
        items,
        key=lambda a: (
            a.state == AlertState.RESOLVED,
            LEVEL_RANK.get(a.level, 9),
            -a.opened_at.timestamp(),
        ),
    )


def alert_fallback(a: AlertItem) -> str:
    """The notification text: escaped too, or a name could ping the whole channel."""
    gap = " " if a.level == CRISIS else ""
    return f"{alert_title(a)}{gap}{escape(a.member_name)}さん"


def _when(at: datetime, tz: str) -> str:
    local = at.astimezone(ZoneInfo(tz))
    return f"{md(local.date())} {local:%H:%M}"


def alerts_messages(alerts: Sequence[AlertItem], tz: str) -> list[list[Block]]:
    """`/nippo alerts`: every open alert with its buttons."""
    if not alerts:
        return [[section(texts.NO_ALERTS)]]
    head = [section(f"*{texts.ALERTS_HEADER.format(count=len(alerts))}*")]
    return split([head, *([*alert_blocks(a, tz), divider()] for a in alerts)])


def resolve_modal(a: AlertItem, metadata: str) -> Block:
    """The 「対応済み」 form: how staff reached the member and what came of it."""
    return {
        "type": "modal",
        "callback_id": VIEW_RESOLVE,
        "private_metadata": metadata[:3000],
        "title": _plain(texts.RESOLVE_TITLE, MAX_MODAL_TITLE),
        "submit": _plain(texts.RESOLVE_SUBMIT, MAX_MODAL_TITLE),
        "close": _plain(texts.RESOLVE_CLOSE, MAX_MODAL_TITLE),
        "blocks": [
            section(texts.RESOLVE_INTRO.format(name=escape(a.member_name), title=escape(a.title))),
            {
                "type": "input",
                "block_id": "method",
                "label": _plain(texts.RESOLVE_METHOD),
                "element": {
                    "type": "static_select",
                    "action_id": "method",
                    "initial_option": _option(RESOLVE_METHODS[0]),
                    "options": [_option(m) for m in RESOLVE_METHODS],
                },
            },
            {
                "type": "input",
                "block_id": "outcome",
                "label": _plain(texts.RESOLVE_OUTCOME),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "outcome",
                    "multiline": True,
                    "max_length": 500,
                    "placeholder": _plain(texts.RESOLVE_OUTCOME_HINT),
                },
            },
        ],
    }


def _option(label: str) -> Block:
    return {"text": _plain(label), "value": label}


def message_modal(
    name: str, metadata: str, *, staff: str, platform: str, text: str = "", version: int = 0
) -> Block:
    """The 「メッセージを送る」 form: a 文例 to start from and the words, editable. Choosing a
    文例 redraws the form with it as the text; the text block's id carries `version`, since
    Slack keeps what was typed in a block whose id stays the same."""
    templates = texts.STAFF_MESSAGE_TEMPLATES
    field: Block = {
        "type": "plain_text_input",
        "action_id": MESSAGE_TEXT,
        "multiline": True,
        "max_length": MESSAGE_MAX,
        "placeholder": _plain(texts.STAFF_MESSAGE_HINT),
    }
    if text:
        field["initial_value"] = text[:MESSAGE_MAX]
    intro = texts.STAFF_MESSAGE_INTRO.format(
        name=escape(name), platform=escape(platform), staff=escape(staff)
    )
    return {
        "type": "modal",
        "callback_id": VIEW_MESSAGE,
        "private_metadata": metadata[:3000],
        "title": _plain(texts.STAFF_MESSAGE_TITLE, MAX_MODAL_TITLE),
        "submit": _plain(texts.STAFF_MESSAGE_SUBMIT, MAX_MODAL_TITLE),
        "close": _plain(texts.RESOLVE_CLOSE, MAX_MODAL_TITLE),
        "blocks": [
            section(intro),
            {
                "type": "actions",
                "block_id": "template",
                "elements": [
                    {
                        "type": "static_select",
                        "action_id": ACTION_MESSAGE_TEMPLATE,
                        "placeholder": _plain(texts.STAFF_MESSAGE_TEMPLATE),
                        "options": [_option(t) for t in templates],
                    }
                ],
            },
            {
                "type": "input",
                "block_id": f"{MESSAGE_TEXT}:{version}",
                "label": _plain(texts.STAFF_MESSAGE_TEXT),
                "element": field,
            },
        ],
    }


def message_text(view: Block) -> str:
    """What the form's text block holds (whichever version of it the form shows)."""
    for block_id, values in (view.get("state") or {}).get("values", {}).items():
        if block_id.split(":")[0] == MESSAGE_TEXT:
            return str((values.get(MESSAGE_TEXT) or {}).get("value") or "").strip()
    return ""


def notice_blocks(title: str, text: str) -> list[Block]:
    """A plain staff notice (delivery failure, quota warning, anything with a text)."""
    return [section(f"*{escape(title)}*\n{user(text, 2500)}" if title else user(text, 2900))]


# --- one 日報, a week ----------------------------------------------------------------------


def report_blocks(view: ReportView) -> list[list[Block]]:
    r = view.report
    title = texts.REPORT_TITLE.format(name=escape(view.name), date=md(r.business_date))
    status = texts.STATUS_LABELS.get(r.status.value, r.status.value)
    labels = texts.FIELD_LABELS
    extra = [
        f"*{labels['temperature']}*\n{r.temperature:.1f}" if r.temperature else None,
        f"*{labels['work_done']}*\n{user(r.work_done)}" if r.work_done else None,
        f"*{labels['health_end']}*\n{r.health_end}" if r.health_end is not None else None,
        f"*{labels['note']}*\n{user(r.note)}" if r.note else None,
    ]
    groups: list[list[Block]] = [
        [
            section(f"*{title}*  {status}"),
            section("", _answer_fields(r, view.tz)),
        ]
    ]
    more = [e for e in extra if e]
    if more:
        groups[0].append(section("", more))
    if view.flags:
        groups[0].append(context("⚠ " + " / ".join(user(v, 200) for v in view.flags.values())))
    if view.revisions:
        groups.append([divider(), section(f"*{texts.REVISIONS_HEADER}*")])
        lines = [_revision_line(rev, view.tz) for rev in view.revisions]
        groups.extend([context(chunk)] for chunk in _chunks(lines, 2900))
    return split(groups)


def _revision_line(rev: Revision, tz: str) -> str:
    """One change: 【事後記録】 first when late, then what changed, who, and why."""
    if rev.source in ("sign_off", "sign_off_voided"):  # ids in before/after mean nothing here
        template = (
            texts.REVISION_SIGN_OFF_LINE
            if rev.source == "sign_off"
            else texts.REVISION_SIGN_OFF_VOIDED_LINE
        )
        line = template.format(time=_when(rev.at, tz))
    else:
        line = texts.REVISION_LINE.format(
            time=_when(rev.at, tz),
            label=texts.FIELD_LABELS.get(rev.field, rev.field),
            before=_shown(rev.before, tz),
            after=_shown(rev.after, tz),
            source=texts.REVISION_SOURCES.get(rev.source, rev.source),
        )
    if rev.by_name:
        line += f" {escape(rev.by_name)}"
    if rev.reason:
        template = texts.REVISION_ADVICE if rev.source == "sign_off" else texts.REVISION_REASON
        line += template.format(reason=user(rev.reason, 300))
    return f"{texts.LATE_MARK}{line}" if rev.late else line


def _shown(value: str | None, tz: str) -> str:
    if value is None:
        return texts.NOT_YET
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return user(value, 200)
    return hm(at, tz) if at.tzinfo else user(value, 200)


def _chunks(lines: Sequence[str], limit: int) -> list[str]:
    out: list[str] = []
    current = ""
    for line in lines:
        line = clip(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


def week_blocks(rows: Sequence[WeekRow], tz: str, *, detail: bool) -> list[list[Block]]:
    if not rows:
        return [[section(texts.BOARD_EMPTY)]]
    days = [d for d, _, _ in rows[0].days]
    title = texts.WEEK_TITLE.format(first=md(days[0]), last=md(days[-1]))
    groups: list[list[Block]] = [[section(f"*{title}*"), context(texts.WEEK_LEGEND)]]
    if detail:
        row = rows[0]
        groups.append([section(f"*{escape(row.name)}*")])
        for d, mode, snap in row.days:
            mark = _mark(mode, snap)
            line = (
                f"{mark} {md(d)}  {hm(snap.start_at, tz)}〜{hm(snap.end_at, tz)}  "
                f"体調 {snap.health_start if snap.health_start is not None else texts.NOT_YET}  "
                f"{user(snap.planned_work, 80)} / {user(snap.outputs, 80)}"
            )
            groups.append([context(line)])
        return split(groups)
    header = " ".join(f"{d.day:>2}" for d in days)
    lines = [f"`{header}`"]
    lines.extend(
        f"`{' '.join(_mark(mode, snap).rjust(2) for _, mode, snap in row.days)}` {escape(row.name)}"
        for row in rows
    )
    groups.extend([section(chunk)] for chunk in _chunks(lines, 2900))
    return split(groups)


def _mark(mode: str, snap: ReportSnapshot) -> str:
    if snap.status.value != "open":
        return texts.WEEK_MARKS[snap.status.value]
    return texts.WEEK_MARKS["open"] if mode == "zaitaku" else texts.WEEK_MARKS["off"]


# App Home: adapters/slack/home_blocks.py


# --- replies to a member in a DM -----------------------------------------------------------


def reply_blocks(replies: Sequence[Reply], day: date | None) -> list[Block]:
    """Neutral replies as one DM: text, card fields, buttons carrying the business date."""
    blocks: list[Block] = []
    for n, reply in enumerate(replies):
        if reply.text:
            blocks.append(section(escape(reply.text)))
        if reply.card is not None:
            fields = [f"*{escape(k)}*\n{user(v, 500)}" for k, v in reply.card.rows]
            first = f"*{escape(reply.card.title)}*"
            for i in range(0, max(len(fields), 1), MAX_FIELDS):
                blocks.append(section(first if i == 0 else "", fields[i : i + MAX_FIELDS]))
            if reply.card.footer:
                blocks.append(context(escape(reply.card.footer)))
        if reply.choices:
            stamp = day.isoformat() if day else ""
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"checkin:{n}",
                    "elements": [
                        button(c.label, f"{ACTION_CHECKIN}:{i}", f"{stamp}|{c.value}")
                        for i, c in enumerate(reply.choices[:MAX_ACTIONS])
                    ],
                }
            )
    return blocks[:MAX_MESSAGE_BLOCKS]


def reply_fallback(replies: Sequence[Reply]) -> str:
    return clip("\n".join(escape(r.text) for r in replies if r.text) or " ", MAX_FALLBACK_TEXT)


def parse_choice(value: str) -> tuple[date | None, str]:
    """A DM button's value back into (business date it was shown for, choice)."""
    stamp, _, choice = value.partition("|")
    try:
        return (date.fromisoformat(stamp) if stamp else None), choice
    except ValueError:
        return None, choice
