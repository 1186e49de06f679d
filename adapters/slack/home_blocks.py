"""The App Home tab as the staff's workspace (issue #19): a date picker for the board, the
alerts waiting for someone and those the viewer holds (with the alert messages' own buttons,
so the alert handlers serve both), the viewer's 担当, quick actions, then the day's board.

Pure like blocks.py: read models in, Block Kit out, within a view's 100 blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date

from adapters.slack import blocks as bk
from adapters.slack.blocks import Block
from bot.core import texts
from bot.queries.board import AlertItem, Board, BoardRow
from bot.services.consent import OPERATIONAL_ALERT_KINDS
from bot.services.emergency_contacts import EmergencyContact

ACTION_DATE = "home_date"
ACTION_LOG = "home_log_contact"
ACTION_EVAL = "home_evaluation"
ACTION_EXPORT = "home_export"
ACTION_WEB = "home_web"
VIEW_CONTACT = "home_contact_view"
VIEW_EVAL_PICK = "home_eval_pick_view"
ALERT_ROOM = 50  # of the view's 100 blocks, at most this many for the alerts
MAX_OPTIONS = 100  # a static_select's options


@dataclass(frozen=True)
class Assigned:
    """A member the viewer is 担当 (or 代理) of."""

    member_id: int
    name: str
    substitute: bool = False


@dataclass(frozen=True)
class AlertShow:
    """What each alert may show in Slack (as for a digest): `details` the members whose
    details may show, `withheld` those kept short for want of consent, `contacts` by alert."""

    details: AbstractSet[int] = frozenset()
    withheld: AbstractSet[int] = frozenset()
    contacts: Mapping[int, Sequence[EmergencyContact]] = field(default_factory=dict)


def home_view(
    board: Board | None,
    mine: Sequence[AlertItem] = (),
    note: str = "",
    *,
    waiting: Sequence[AlertItem] = (),
    assigned: Sequence[Assigned] = (),
    show: AlertShow | None = None,
    full: bool = True,
    details: AbstractSet[int] | None = None,
    manager: bool = False,
) -> Block:
    """The Home tab for `board.day`: `note` (what the last action came to) on top, then the
    date picker and quick actions, `waiting` (open, nobody has it) and `mine` (the viewer's)
    alerts with their buttons, the 担当 list, and the board (`full`, `details` as for the
    board) as far as the view has room. The shown day travels in private_metadata."""
    if board is None:
        return {"type": "home", "blocks": [bk.section(note or texts.SLACK_NOT_STAFF)]}
    top: list[Block] = [_date_head(board)]
    if note:
        top.append(bk.section(note))
    top += [_actions(manager), bk.divider()]
    alerts = _alerts(board.tz, waiting, mine, show or AlertShow())
    tail = [*alerts, *_assigned(board, assigned, full, details), bk.divider()]
    body = [b for group in bk._board_groups(board, full, details) for b in group]
    room = bk.MAX_VIEW_BLOCKS - len(top) - len(tail) - 1
    shown = body[:room]
    if len(body) > room:
        shown.append(bk.context(texts.HOME_MORE))
    return {
        "type": "home",
        "private_metadata": board.day.isoformat(),
        "blocks": [*top, *tail, *shown],
    }


def shown_day(view: Mapping[str, object] | None) -> date | None:
    """The day a published Home shows (its private_metadata), if it is a Home we drew."""
    if not view or view.get("type") != "home":
        return None
    try:
        return date.fromisoformat(str(view.get("private_metadata") or ""))
    except ValueError:
        return None


def _date_head(board: Board) -> Block:
    head = bk.section(
        texts.HOME_HEAD.format(facility=bk.escape(board.facility_name), date=bk.md(board.day))
        + f"\n{texts.HOME_DATE_HINT}"
    )
    head["accessory"] = {
        "type": "datepicker",
        "action_id": ACTION_DATE,
        "initial_date": board.day.isoformat(),
        "placeholder": bk._plain(texts.HOME_DATE_PLACEHOLDER),
    }
    return head


def _actions(manager: bool) -> Block:
    elements = [
        bk.button(texts.HOME_LOG_BUTTON, ACTION_LOG, "log", "primary"),
        bk.button(texts.HOME_EVAL_BUTTON, ACTION_EVAL, "eval"),
    ]
    if manager:  # exports are for managers, as `/nippo export` is
        elements.append(
            {
                "type": "static_select",
                "action_id": ACTION_EXPORT,
                "placeholder": bk._plain(texts.HOME_EXPORT_PLACEHOLDER),
                "options": [
                    {"text": bk._plain(label, 75), "value": kind}
                    for kind, label in texts.HOME_EXPORT_KINDS.items()
                ],
            }
        )
    elements.append(bk.button(texts.HOME_WEB_BUTTON, ACTION_WEB, "web"))
    return {"type": "actions", "block_id": "home_actions", "elements": elements}


def _alerts(
    tz: str, waiting: Sequence[AlertItem], mine: Sequence[AlertItem], show: AlertShow
) -> list[Block]:
    """Both lists, each alert whole (never cut between its text and its buttons), within
    ALERT_ROOM; what does not fit is counted."""
    out: list[Block] = []
    left = len(waiting) + len(mine)
    for title, items, none in (
        (texts.ALERTS_HEADER.format(count=len(waiting)), waiting, texts.NO_ALERTS),
        (texts.HOME_MINE, mine, texts.HOME_MINE_NONE),
    ):
        out.append(bk.section(f"*{title}*"))
        if not items:
            out.append(bk.context(none))
        for a in items:
            blocks = _alert(a, tz, show)
            if len(out) + len(blocks) > ALERT_ROOM - 3:  # room for the next title and the count
                break
            out.extend(blocks)
            left -= 1
        out.append(bk.divider())
    if left > 0:
        out.insert(-1, bk.context(texts.HOME_ALERTS_MORE.format(count=left)))
    return out


def _alert(a: AlertItem, tz: str, show: AlertShow) -> list[Block]:
    """The alert as the channel shows it in a digest: same text rules, same buttons."""
    shown = a.member_id in show.details
    operational = a.kind in OPERATIONAL_ALERT_KINDS
    return bk.alert_blocks(
        a,
        tz,
        None,
        full=shown,
        withheld=a.member_id in show.withheld and not operational,
        contacts=show.contacts.get(a.alert_id),
        detail=shown or operational,
    )


def _assigned(
    board: Board, assigned: Sequence[Assigned], full: bool, details: AbstractSet[int] | None
) -> list[Block]:
    """「担当の利用者」: each one's line as on the board, or that no 在宅 is planned that day."""
    rows: dict[int, BoardRow] = {r.member_id: r for r in board.rows}
    lines = [f"*{texts.HOME_ASSIGNED}*"]
    for m in assigned:
        row = rows.get(m.member_id)
        name = f"*{bk.escape(bk.clip(m.name, bk.BOARD_NAME))}*"
        if row is None:
            line = texts.HOME_ASSIGNED_OFF.format(name=name)
        else:
            shown = full and (details is None or m.member_id in details)
            line = bk.board_line(row, board, full=shown)
        if m.substitute:  # 代理: right after the name, which the line starts with
            line = line.replace(name, name + texts.HOME_SUBSTITUTE, 1)
        lines.append(line)
    if not assigned:
        return [bk.section(lines[0]), bk.context(texts.HOME_ASSIGNED_NONE)]
    return [bk.section(chunk) for chunk in bk._chunks(lines, bk.MAX_SECTION_TEXT - 100)][:5]


# --- the quick actions' forms --------------------------------------------------------------


def member_options(members: Sequence[Assigned]) -> list[Block]:
    return [
        {"text": bk._plain(m.name, 75), "value": str(m.member_id)} for m in members[:MAX_OPTIONS]
    ]


def _select(block_id: str, label: str, options: list[Block]) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "label": bk._plain(label),
        "element": {"type": "static_select", "action_id": block_id, "options": options},
    }


def _labels(values: Sequence[str]) -> list[Block]:
    return [{"text": bk._plain(v, 75), "value": v} for v in values]


def _modal(callback_id: str, title: str, submit: str, blocks: list[Block], meta: str) -> Block:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": bk._plain(title, bk.MAX_MODAL_TITLE),
        "submit": bk._plain(submit, bk.MAX_MODAL_TITLE),
        "close": bk._plain(texts.EVAL_CANCEL, bk.MAX_MODAL_TITLE),
        "private_metadata": meta,
        "blocks": blocks,
    }


def contact_modal(
    members: Sequence[Assigned], methods: Sequence[str], now_hm: str, meta: str
) -> Block:
    """「連絡を記録」: who, how, when today (now unless changed) and what was talked about."""
    blocks = [
        _select("member", texts.HOME_MEMBER_LABEL, member_options(members)),
        _select("method", texts.RESOLVE_METHOD, _labels(methods)),
        {
            "type": "input",
            "block_id": "at",
            "label": bk._plain(texts.HOME_CONTACT_TIME),
            "element": {"type": "timepicker", "action_id": "at", "initial_time": now_hm},
        },
        {
            "type": "input",
            "block_id": "text",
            "label": bk._plain(texts.CONTACT_TEXT_LABEL),
            "element": {
                "type": "plain_text_input",
                "action_id": "text",
                "multiline": True,
                "max_length": 2000,
                "placeholder": bk._plain(texts.HOME_CONTACT_HINT),
            },
        },
    ]
    return _modal(VIEW_CONTACT, texts.HOME_CONTACT_TITLE, texts.EVAL_SAVE, blocks, meta)


def eval_pick_modal(members: Sequence[Assigned], meta: str) -> Block:
    """「評価を開く」, step one: whose evaluation and which; step two is `/nippo eval`'s form."""
    kinds = [{"text": bk._plain(t, 75), "value": k} for k, t in texts.EVAL_MODAL_TITLE.items()]
    blocks = [
        _select("member", texts.HOME_MEMBER_LABEL, member_options(members)),
        _select("kind", texts.HOME_EVAL_KIND, kinds),
    ]
    return _modal(VIEW_EVAL_PICK, texts.HOME_EVAL_TITLE, texts.HOME_NEXT, blocks, meta)
