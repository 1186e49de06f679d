"""Records as the `nippo` CLI prints them: local times (the facility's zone), who entered each
entry, 【事後記録】 marks, 修正理由, a voided sign-off, and the once-only nudge for a doubtful
staff text. Pure: dataclasses in, lines out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.core import texts
from bot.core.domain import FieldValue
from bot.core.provenance import local
from bot.queries.exports import KIND_LABELS
from bot.services.records import SIGN_OFF_FIELD, DayRecord, ReportHistory, RevisionView


def late_mark(late: bool) -> str:
    return f" {texts.LATE_MARK}" if late else ""


def flag_warnings(flags: Mapping[str, str], labels: Mapping[str, str]) -> list[str]:
    """One kind line per flagged field, naming it and why it was flagged."""
    return [
        texts.RECORD_FLAG_WARNING.format(
            label=labels.get(field, field), reason=texts.FLAG_REASONS.get(why, why)
        )
        for field, why in flags.items()
    ]


def shown(value: FieldValue | str, tz: str) -> str:
    """A field value or a revision's before/after: instants in local time, '—' for none."""
    if value is None or value == "":
        return texts.NOT_YET
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            return value
        return local(at, tz) if at.tzinfo else value
    if isinstance(value, datetime):
        return local(value, tz)
    return f"{value:g}" if isinstance(value, float) else str(value)


def history_lines(h: ReportHistory, tz: str) -> list[str]:
    """`nippo report history`: the 日報 as it stands, its sign-off, every change, the day's
    支援記録."""
    lines = [f"  記録: {local(h.created_at, tz)} {h.entered_by_name}{late_mark(h.late)}"]
    lines += [f"  {field}: {shown(value, tz)}" for field, value in h.current.items()]
    if h.signed_off_by and h.signed_off_at:
        lines.append(f"  確認: {h.signed_off_by} {local(h.signed_off_at, tz)}")
    elif h.needs_sign_off:
        lines.append(f"  確認: 要再確認({local(h.signoff_voided_at, tz)} の修正で取り消されました)")
    else:
        lines.append("  確認: まだ")
    if h.revisions:
        lines.append(f"  {texts.REVISIONS_HEADER}:")
        lines += [_revision(r, tz) for r in h.revisions]
    if h.records:
        lines.append(f"  {texts.DAY_RECORDS_HEADER}:")
        lines += [_record(r, tz) for r in h.records]
    return lines


def _revision(r: RevisionView, tz: str) -> str:
    source = texts.REVISION_SOURCES.get(r.source, r.source)
    if r.field == SIGN_OFF_FIELD:
        change = source
    else:
        change = f"{r.field}: {shown(r.before, tz)} -> {shown(r.after, tz)} ({source})"
    template = texts.REVISION_ADVICE if r.source == "sign_off" else texts.REVISION_REASON
    reason = template.format(reason=r.reason) if r.reason else ""
    return f"    {local(r.at, tz)} {change} {r.by_name or r.by}{reason}{late_mark(r.late)}"


def _record(r: DayRecord, tz: str) -> str:
    kind = KIND_LABELS.get(r.kind, r.kind)
    channel = texts.CHANNEL_LABELS.get(r.channel, r.channel)
    staff = f" {r.staff_name}" if r.staff_name else ""
    entered = texts.DAY_RECORD_ENTERED.format(
        entered=f"{local(r.entered_at, tz)} {r.entered_by_name}"
    )
    flagged = "".join(f" ⚠{texts.FLAG_REASONS.get(why, why)}" for why in r.flags.values())
    return (
        f"    {local(r.at, tz)} {kind}({channel}){staff}: {r.content} {entered}"
        f"{late_mark(r.late)}{flagged}"
    )
