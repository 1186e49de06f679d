"""Block Kit for the records surfaces: evaluation and correction modals, the report's footer
(who entered it, the day's 支援記録 with 【事後記録】 marks, its sign-off and buttons), the
end-of-day digest with its sign-off button, and the month view split into messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from adapters.slack.blocks import (
    ACTION_MEMBER_CALL_LOG,
    ACTION_MEMBER_MESSAGE,
    MAX_SECTION_TEXT,
    Block,
    button,
    context,
    escape,
    hm,
    section,
    split,
    user,
)
from bot.core import payloads as pl
from bot.core import texts
from bot.core.domain import EVALUATION_CONTACT_METHODS, ONSITE_CONTACT_METHODS, ReportField
from bot.core.provenance import local
from bot.queries.exports import KIND_LABELS
from bot.services import digests, records

ACTION_REPORT_EDIT = "report_edit"
ACTION_REPORT_SIGN = "report_sign_off"
ACTION_DIGEST_SIGN = "digest_sign_off"  # the action id bot/services/digests.py puts in the payload
VIEW_EVAL = "evaluation_view"
VIEW_REPORT_EDIT = "report_edit_view"
WEEKLY_METHODS = tuple(texts.CONTACT_METHOD_LABELS[m] for m in EVALUATION_CONTACT_METHODS)
MONTHLY_METHODS = tuple(texts.CONTACT_METHOD_LABELS[m] for m in ONSITE_CONTACT_METHODS)


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:150] or " ", "emoji": True}


def _option(label: str, value: str | None = None) -> dict[str, Any]:
    return {"text": _plain(label), "value": value or label}


def _select(block_id: str, label: str, options: Sequence[tuple[str, str]]) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label),
        "element": {
            "type": "static_select",
            "action_id": block_id,
            "options": [_option(lbl, v) for lbl, v in options],
        },
    }


def _text_input(block_id: str, label: str, *, multiline: bool, optional: bool) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": _plain(label),
        "element": {
            "type": "plain_text_input",
            "action_id": block_id,
            "multiline": multiline,
            "max_length": 2000,
        },
    }


def _modal(callback_id: str, title: str, blocks: list[Block], metadata: str) -> Block:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(title[:24]),
        "submit": _plain(texts.EVAL_SAVE),
        "close": _plain(texts.EVAL_CANCEL),
        "private_metadata": metadata,
        "blocks": blocks,
    }


def eval_modal(kind: str, name: str, metadata: str) -> Block:
    """Weekly: method and a short note; monthly: method (on site) and the 評価シート fields."""
    methods = MONTHLY_METHODS if kind == "monthly" else WEEKLY_METHODS
    blocks: list[Block] = [
        section(f"*{escape(name)}さん*"),
        _select("method", texts.EVAL_METHOD_LABEL, [(m, m) for m in methods]),
    ]
    if kind == "monthly":
        blocks += [
            _text_input(f, texts.EVAL_SHEET_LABELS[f], multiline=True, optional=f != "goal")
            for f in records.SHEET_FIELDS
        ]
    else:
        blocks.append(_text_input("note", texts.EVAL_NOTE_LABEL, multiline=True, optional=False))
    return _modal(VIEW_EVAL, texts.EVAL_MODAL_TITLE[kind], blocks, metadata)


def report_edit_modal(metadata: str) -> Block:
    fields = [(texts.FIELD_LABELS.get(f.value, f.value), f.value) for f in ReportField]
    blocks: list[Block] = [
        _select("field", texts.REPORT_EDIT_FIELD, fields),
        _text_input("value", texts.REPORT_EDIT_VALUE, multiline=False, optional=True),
        context(texts.REPORT_EDIT_HINT),
        _text_input("reason", texts.REPORT_EDIT_REASON, multiline=False, optional=False),
        context(texts.REPORT_EDIT_REASON_HINT),
    ]
    return _modal(VIEW_REPORT_EDIT, texts.REPORT_EDIT_TITLE, blocks, metadata)


def report_actions(history: records.ReportHistory, tz: str) -> list[Block]:
    """The report view's footer: who entered the 日報 and when, the day's 支援記録, who signed
    it off (or that a later change voided the sign-off) and the 修正 / 確認(サイン) buttons."""
    late = texts.LATE_MARK if history.late else ""
    entered = texts.REPORT_ENTERED.format(
        time=local(history.created_at, tz), who=escape(history.entered_by_name)
    )
    out: list[Block] = [context(f"{late}{entered}"), *day_records_blocks(history.records, tz)]
    if history.signed_off_by and history.signed_off_at:
        signed = texts.REPORT_SIGNED.format(
            name=escape(history.signed_off_by), time=hm(history.signed_off_at, tz)
        )
        out.append(context(signed))
    elif history.needs_sign_off:
        out.append(
            context(texts.REPORT_NEEDS_SIGN_OFF.format(time=hm(history.signoff_voided_at, tz)))
        )
    report_id = str(history.report_id)
    out.append(
        {
            "type": "actions",
            "elements": [
                button(texts.REPORT_EDIT_BUTTON, ACTION_REPORT_EDIT, report_id),
                button(texts.REPORT_SIGN_OFF_BUTTON, ACTION_REPORT_SIGN, report_id, "primary"),
            ],
        }
    )
    return out


def member_actions(member_id: int) -> Block:
    """The report view's 「メッセージを送る」 and 「電話・ビデオを記録」 for this member."""
    value = str(member_id)
    return {
        "type": "actions",
        "block_id": f"member:{member_id}",
        "elements": [
            button(texts.STAFF_MESSAGE_BUTTON, ACTION_MEMBER_MESSAGE, value),
            button(texts.CALL_LOG_BUTTON, ACTION_MEMBER_CALL_LOG, value),
        ],
    }


def day_records_blocks(found: Sequence[records.DayRecord], tz: str) -> list[Block]:
    """The day's 支援記録, one line each, in at most three sections (never a flood)."""
    if not found:
        return []
    lines = [f"*{texts.DAY_RECORDS_HEADER}*", *(day_record_line(r, tz) for r in found)]
    return [section(c) for c in text_chunks(lines)[:3]]


def day_record_line(r: records.DayRecord, tz: str) -> str:
    """One 支援記録 row: a 事後記録 says so first and tells when it was entered."""
    line = texts.DAY_RECORD_LINE.format(
        late=texts.LATE_MARK if r.late else "",
        time=hm(r.at, tz),
        kind=KIND_LABELS.get(r.kind, r.kind),
        channel=texts.CHANNEL_LABELS.get(r.channel, r.channel),
        who=escape(r.staff_name or r.entered_by_name),
        content=user(r.content, 300),
    )
    if r.late:
        line += texts.DAY_RECORD_ENTERED.format(
            entered=f"{local(r.entered_at, tz)} {escape(r.entered_by_name)}"
        )
    if r.flags:
        line += " ⚠ " + " / ".join(texts.FLAG_REASONS.get(v, v) for v in r.flags.values())
    return line


def digest_blocks(payload: pl.Digest, tz: str, signed: str = "") -> list[list[Block]]:
    """The end-of-day digest: one section a member, ⚠ for flagged entries, the sign-off button
    (or, once pressed, who signed it off)."""
    members = payload.members
    month_day = f"{payload.date.month}/{payload.date.day}"
    head = texts.DIGEST_TITLE.format(date=month_day, count=len(members))
    groups: list[list[Block]] = [[section(f"*{escape(head)}*")]]
    if not members:
        groups[0].append(section(texts.DIGEST_NONE))
    for m in members:
        times = [hm(at, tz) if at else "--:--" for at in (m.start_at, m.end_at)]
        shown = f" ({times[0]}〜{times[1]})" if m.start_at else ""
        status = texts.DIGEST_STATUS.get(m.status.value, m.status.value)
        line = texts.DIGEST_LINE.format(member=user(m.name, 100), status=status, times=shown)
        flags = [
            texts.DIGEST_FLAG.format(
                label=texts.FIELD_LABELS.get(f, f), reason=user(reason, 200)
            ).strip()
            for f, reason in m.flags.items()
        ]
        groups.append([section("\n".join([line, *flags]))])
    groups.extend(digest_alert_groups(payload.alerts, tz))
    sign = payload.sign_off
    if signed:
        groups.append([context(signed)])
    elif sign:
        groups.append(
            [
                context(texts.DIGEST_SIGN_OFF),
                {
                    "type": "actions",
                    "elements": [
                        button(
                            texts.DIGEST_SIGN_OFF_BUTTON,
                            sign.action_id or ACTION_DIGEST_SIGN,
                            sign.value,
                            "primary",
                        )
                    ],
                },
            ]
        )
    return _merge_members(groups)


def digest_alert_groups(alerts: Sequence[pl.DigestAlert], tz: str) -> list[list[Block]]:
    """The digest's unresolved alerts (any date), one section a level, most serious first."""
    if not alerts:
        return []
    zone = ZoneInfo(tz)
    out: list[list[Block]] = []
    for group in digests.DIGEST_GROUPS:
        lines = []
        for a in (a for a in alerts if a.group == group):
            opened = a.opened_at.astimezone(zone)
            state = (
                texts.DIGEST_ALERT_TAKEN.format(name=escape(a.taken_by))
                if a.taken_by
                else texts.DIGEST_ALERT_OPEN
            )
            lines.append(
                texts.DIGEST_ALERT_LINE.format(
                    member=user(a.name, 100),
                    title=escape(a.title),
                    since=f"{opened.month}/{opened.day} {opened:%H:%M}",
                    state=state,
                )
            )
        if lines:
            head = f"*{texts.DIGEST_ALERT_GROUPS[group]}*"
            if not out:
                head = f"*{texts.DIGEST_ALERTS_HEAD.format(count=len(alerts))}*\n{head}"
            out.extend([section(c)] for c in text_chunks([head, *lines]))
    return out


def _merge_members(groups: list[list[Block]]) -> list[list[Block]]:
    """Up to 45 member sections fit one message; beyond that, lines share a section."""
    if sum(len(g) for g in groups) <= 50:
        return groups
    head, *rest = groups
    tail = rest[-1]
    lines = [b["text"]["text"] for g in rest[:-1] for b in g]
    return [head, *([section(c)] for c in text_chunks(lines)), tail]


def text_chunks(lines: Sequence[str], limit: int = MAX_SECTION_TEXT - 100) -> list[str]:
    out: list[str] = []
    current = ""
    for line in lines:
        line = line[:limit]
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


def month_messages(text: str) -> list[list[Block]]:
    """The compliance view (already escaped) as sections, split into messages of 50 blocks."""
    return split([[section(c)] for c in text_chunks(text.split("\n"))])


def digest_message(payload: pl.Digest, tz: str, signed: str = "") -> list[Block]:
    """The digest as one message (the groups are merged to stay within 50 blocks)."""
    return [b for g in digest_blocks(payload, tz, signed) for b in g]
