"""Outbox payloads: one frozen dataclass per kind, and the one place they become JSON.

Producers build these; `storage.repo` stores `to_json(payload)` in `outbox_message.payload`;
delivery hands senders `from_json(row.payload)` and they dispatch on the type. The JSON keeps
the shape rows have always had (a "kind" key, flat fields), so rows queued by an earlier
version still decode. A kind this version does not know (or a row without one) decodes as a
`Notice`: anything with a text is a staff notice, and its other fields are kept as they were.

A mention is data: the staff ids to ping (`Mentions`), rendered by the staff platform's
adapter from the staff rows. Rows queued before that carried Slack user ids under "mentions";
those still decode, as `Mentions.legacy_user_ids`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from bot.core.domain import AlertLevel, AlertState, Reply, ReportStatus, reply_from_json
from bot.core.domain import reply_to_json as _reply_json
from bot.core.policy import EvaluationKind, RenotifyAudience

Json = dict[str, Any]
T = TypeVar("T")


class PayloadError(ValueError):
    """A stored payload that does not read as its kind (a missing or mistyped field)."""


@dataclass(frozen=True)
class Mentions:
    """Whom a staff message pings: staff ids in order (the adapter maps them to its users)."""

    staff_ids: tuple[int, ...] = ()
    legacy_user_ids: tuple[str, ...] = ()  # platform user ids, from rows queued before staff ids


# --- to a member -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Replies:
    """Check-in replies to a member; buttons carry `business_date` (stale-button check)."""

    replies: tuple[Reply, ...]
    business_date: date | None = None
    kind = "replies"


@dataclass(frozen=True)
class OutageNotice:
    """To staff on LINE while Slack is down: no names, no details."""

    text: str
    facility_id: int
    kind = "outage_notice"


# --- to staff --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """A new alert for the facility's alert channel (rendered from the alert row)."""

    alert_id: int
    level: AlertLevel
    text: str
    kind = "alert"


@dataclass(frozen=True)
class AlertResolved:
    """Missed-contact alerts the member's own late report (or absence) closed."""

    alert_ids: tuple[int, ...]
    text: str
    kind = "alert_resolved"


@dataclass(frozen=True)
class StaffMessage:
    """Words a staff member wrote to a member from an alert, signed, as the member reads
    them (sent on the member's own platform; the row's member_id says whose). `alert_id`:
    the alert it answers, None when written from the board or the member's report view."""

    alert_id: int | None
    staff_id: int
    text: str
    kind = "staff_message"


@dataclass(frozen=True)
class ThreadNote:
    """A line in an alert's thread on the staff platform: a message staff sent, the member's
    answer (as the disclosure allows)."""

    alert_id: int
    text: str
    kind = "thread_note"


@dataclass(frozen=True)
class Renotify:
    """An untaken alert posted again, pinging the step's people."""

    alert_id: int
    step: int
    level: AlertLevel
    audience: RenotifyAudience
    minutes: int
    business_minutes: bool
    mentions: Mentions
    text: str
    kind = "renotify"


@dataclass(frozen=True)
class DigestMember:
    member_id: int
    name: str
    report_id: int | None
    status: ReportStatus
    start_at: datetime | None
    end_at: datetime | None
    flags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DigestAlert:
    alert_id: int
    kind: str  # the concern (low_health, missed_start …), not a payload kind
    level: AlertLevel
    group: str
    title: str
    member_id: int
    name: str
    state: AlertState
    opened_at: datetime
    taken_by: str | None = None


@dataclass(frozen=True)
class SignOff:
    """The digest's sign-off button."""

    action_id: str
    value: str


@dataclass(frozen=True)
class Digest:
    """The end-of-day digest of one facility."""

    facility_id: int
    date: date
    text: str
    members: tuple[DigestMember, ...] = ()
    alerts: tuple[DigestAlert, ...] = ()
    sign_off: SignOff | None = None
    kind = "digest"


@dataclass(frozen=True)
class EvaluationDue:
    evaluation: EvaluationKind
    facility_id: int
    period_start: date
    member_ids: tuple[int, ...]
    text: str
    kind = "evaluation_due"


@dataclass(frozen=True)
class ApprovalExpiring:
    facility_id: int
    member_ids: tuple[int, ...]
    approval_until: date
    mentions: Mentions
    text: str
    kind = "approval_expiring"


@dataclass(frozen=True)
class AccountReplaced:
    member_id: int
    facility_id: int
    identity_id: int
    replaced: tuple[int, ...]
    text: str
    kind = "account_replaced"


@dataclass(frozen=True)
class LinkPaused:
    facility_id: int
    count: int
    text: str
    kind = "link_paused"


@dataclass(frozen=True)
class DeliveryFailed:
    outbox_id: int
    member_id: int
    text: str
    kind = "delivery_failed"


@dataclass(frozen=True)
class QuotaWarning:
    threshold: int
    month: str
    used: int
    limit: int
    text: str
    kind = "quota_warning"


@dataclass(frozen=True)
class EvidenceShared:
    """A member's kept photo, file, voice or video for staff: uploaded with `text` as its
    caption when `attach` (consent covers Slack), else `text` alone (where to find it)."""

    attachment_id: int
    member_id: int
    text: str
    attach: bool
    kind = "evidence_shared"


@dataclass(frozen=True)
class OutageSummary:
    facility_id: int
    text: str
    count: int
    mentions: Mentions
    kind = "outage_summary"


@dataclass(frozen=True)
class Notice:
    """Any other staff notice: a kind this version does not know, or none; `fields` keeps
    everything else the row said (so it is stored again exactly as it came)."""

    kind: str = ""
    text: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


Payload = (
    Replies
    | OutageNotice
    | Alert
    | AlertResolved
    | StaffMessage
    | ThreadNote
    | Renotify
    | Digest
    | EvaluationDue
    | ApprovalExpiring
    | AccountReplaced
    | LinkPaused
    | DeliveryFailed
    | QuotaWarning
    | OutageSummary
    | EvidenceShared
    | Notice
)


def text_of(payload: Payload) -> str:
    """What a payload says in words (a reply's texts joined; "" when there are none)."""
    if isinstance(payload, Replies):
        return "\n".join(r.text for r in payload.replies if r.text)
    return payload.text or ""


def facility_of(payload: Payload) -> int | None:
    """The facility a payload is about, when it names one."""
    if isinstance(payload, Notice):
        return _id(payload.fields.get("facility_id"))
    found = getattr(payload, "facility_id", None)
    return found if isinstance(found, int) else None


def member_of(payload: Payload) -> int | None:
    """The member a payload is about, when it names one (besides the row's member_id)."""
    if isinstance(payload, Notice):
        return _id(payload.fields.get("member_id"))
    found = getattr(payload, "member_id", None)
    return found if isinstance(found, int) else None


def _id(raw: object) -> int | None:
    """An id a free-form notice carries (old rows wrote some as strings)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


# --- JSON --------------------------------------------------------------------------------------


def _iso(at: date | datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _mentions_json(m: Mentions) -> Json:
    out: Json = {"mention_staff_ids": list(m.staff_ids)}
    if m.legacy_user_ids:
        out["mentions"] = list(m.legacy_user_ids)
    return out


def _member_json(m: DigestMember) -> Json:
    return {
        "member_id": m.member_id,
        "name": m.name,
        "report_id": m.report_id,
        "status": m.status.value,
        "start_at": _iso(m.start_at),
        "end_at": _iso(m.end_at),
        "flags": dict(m.flags),
    }


def _alert_json(a: DigestAlert) -> Json:
    return {
        "alert_id": a.alert_id,
        "kind": a.kind,
        "level": a.level.value,
        "group": a.group,
        "title": a.title,
        "member_id": a.member_id,
        "name": a.name,
        "state": a.state.value,
        "opened_at": a.opened_at.isoformat(),
        "taken_by": a.taken_by,
    }


def to_json(payload: Payload) -> Json:
    """The payload as stored: a "kind" key and its fields, JSON types only."""
    match payload:
        case Replies():
            out: Json = {"kind": payload.kind, "replies": [_reply_json(r) for r in payload.replies]}
            if payload.business_date is not None:
                out["business_date"] = payload.business_date.isoformat()
            return out
        case OutageNotice():
            return {"kind": payload.kind, "text": payload.text, "facility_id": payload.facility_id}
        case Alert():
            return {
                "kind": payload.kind,
                "alert_id": payload.alert_id,
                "level": payload.level.value,
                "text": payload.text,
            }
        case AlertResolved():
            return {
                "kind": payload.kind,
                "alert_ids": list(payload.alert_ids),
                "text": payload.text,
            }
        case StaffMessage():
            return {
                "kind": payload.kind,
                "alert_id": payload.alert_id,
                "staff_id": payload.staff_id,
                "text": payload.text,
            }
        case ThreadNote():
            return {"kind": payload.kind, "alert_id": payload.alert_id, "text": payload.text}
        case Renotify():
            return {
                "kind": payload.kind,
                "alert_id": payload.alert_id,
                "step": payload.step,
                "level": payload.level.value,
                "audience": payload.audience.value,
                "minutes": payload.minutes,
                "business_minutes": payload.business_minutes,
                **_mentions_json(payload.mentions),
                "text": payload.text,
            }
        case Digest():
            return {
                "kind": payload.kind,
                "facility_id": payload.facility_id,
                "date": payload.date.isoformat(),
                "text": payload.text,
                "members": [_member_json(m) for m in payload.members],
                "alerts": [_alert_json(a) for a in payload.alerts],
                "sign_off": (
                    {"action_id": payload.sign_off.action_id, "value": payload.sign_off.value}
                    if payload.sign_off is not None
                    else None
                ),
            }
        case EvaluationDue():
            return {
                "kind": payload.kind,
                "evaluation": payload.evaluation.value,
                "facility_id": payload.facility_id,
                "period_start": payload.period_start.isoformat(),
                "member_ids": list(payload.member_ids),
                "text": payload.text,
            }
        case ApprovalExpiring():
            return {
                "kind": payload.kind,
                "facility_id": payload.facility_id,
                "member_ids": list(payload.member_ids),
                "approval_until": payload.approval_until.isoformat(),
                **_mentions_json(payload.mentions),
                "text": payload.text,
            }
        case AccountReplaced():
            return {
                "kind": payload.kind,
                "member_id": payload.member_id,
                "facility_id": payload.facility_id,
                "identity_id": payload.identity_id,
                "replaced": list(payload.replaced),
                "text": payload.text,
            }
        case LinkPaused():
            return {
                "kind": payload.kind,
                "facility_id": payload.facility_id,
                "count": payload.count,
                "text": payload.text,
            }
        case DeliveryFailed():
            return {
                "kind": payload.kind,
                "outbox_id": payload.outbox_id,
                "member_id": payload.member_id,
                "text": payload.text,
            }
        case QuotaWarning():
            return {
                "kind": payload.kind,
                "threshold": payload.threshold,
                "month": payload.month,
                "used": payload.used,
                "limit": payload.limit,
                "text": payload.text,
            }
        case OutageSummary():
            return {
                "kind": payload.kind,
                "facility_id": payload.facility_id,
                "text": payload.text,
                "count": payload.count,
                **_mentions_json(payload.mentions),
            }
        case EvidenceShared():
            return {
                "kind": payload.kind,
                "attachment_id": payload.attachment_id,
                "member_id": payload.member_id,
                "text": payload.text,
                "attach": payload.attach,
            }
        case Notice():
            out = dict(payload.fields)
            if payload.kind:
                out["kind"] = payload.kind
            if payload.text is not None:
                out["text"] = payload.text
            return out


# --- from JSON: each field checked, so a broken row is refused here, not half-sent ------------


class _Reader:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.kind = str(data.get("kind") or "")

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise PayloadError(f"{self.kind or 'payload'}: {key} is missing")
        return self.data[key]

    def _fail(self, key: str, what: str) -> PayloadError:
        return PayloadError(f"{self.kind or 'payload'}: {key} is not {what}")

    def integer(self, key: str) -> int:
        raw = self._get(key)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise self._fail(key, "an integer")
        return raw

    def opt_int(self, key: str) -> int | None:
        return None if self.data.get(key) is None else self.integer(key)

    def string(self, key: str, default: str | None = None) -> str:
        if default is not None and self.data.get(key) is None:
            return default
        raw = self._get(key)
        if not isinstance(raw, str):
            raise self._fail(key, "a string")
        return raw

    def flag(self, key: str) -> bool:
        raw = self.data.get(key)
        if raw is None:
            return False
        if not isinstance(raw, bool | int):
            raise self._fail(key, "a boolean")
        return bool(raw)

    def ints(self, key: str) -> tuple[int, ...]:
        raw = self.data.get(key)
        if raw is None:
            return ()
        if not isinstance(raw, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in raw
        ):
            raise self._fail(key, "a list of integers")
        return tuple(raw)

    def strs(self, key: str) -> tuple[str, ...]:
        raw = self.data.get(key)
        if raw is None:
            return ()
        if not isinstance(raw, list) or not all(isinstance(i, str) for i in raw):
            raise self._fail(key, "a list of strings")
        return tuple(raw)

    def day(self, key: str) -> date:
        return self._parse(key, date.fromisoformat, "a date")

    def instant(self, key: str) -> datetime:
        return self._parse(key, datetime.fromisoformat, "a date and time")

    def opt_instant(self, key: str) -> datetime | None:
        return None if not self.data.get(key) else self.instant(key)

    def enum(self, key: str, kind: Callable[[str], T]) -> T:
        return self._parse(key, kind, "one of its values")

    def _parse(self, key: str, parse: Callable[[str], T], what: str) -> T:
        raw = self.string(key)
        try:
            return parse(raw)
        except ValueError:
            raise self._fail(key, what) from None

    def mentions(self) -> Mentions:
        return Mentions(self.ints("mention_staff_ids"), self.strs("mentions"))

    def records(self, key: str) -> list[_Reader]:
        raw = self.data.get(key)
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(r, Mapping) for r in raw):
            raise self._fail(key, "a list of objects")
        return [_Reader(r) for r in raw]


def _replies(r: _Reader) -> Replies:
    raw = r.data.get("replies")
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(x, Mapping) for x in raw):
        raise r._fail("replies", "a list of replies")
    return Replies(
        tuple(reply_from_json(x) for x in raw), _lenient_day(r.data.get("business_date"))
    )


def _lenient_day(raw: object) -> date | None:
    """A reply's business date; an unreadable one only means its buttons carry no date."""
    try:
        return date.fromisoformat(raw) if isinstance(raw, str) and raw else None
    except ValueError:
        return None


def _member(r: _Reader) -> DigestMember:
    flags = r.data.get("flags") or {}
    if not isinstance(flags, Mapping):
        raise r._fail("flags", "an object")
    return DigestMember(
        member_id=r.integer("member_id"),
        name=r.string("name"),
        report_id=r.opt_int("report_id"),
        status=r.enum("status", ReportStatus),
        start_at=r.opt_instant("start_at"),
        end_at=r.opt_instant("end_at"),
        flags={str(k): str(v) for k, v in flags.items()},
    )


def _alert(r: _Reader) -> DigestAlert:
    taken = r.data.get("taken_by")
    return DigestAlert(
        alert_id=r.integer("alert_id"),
        kind=r.string("kind"),
        level=r.enum("level", AlertLevel),
        group=r.string("group"),
        title=r.string("title"),
        member_id=r.integer("member_id"),
        name=r.string("name"),
        state=r.enum("state", AlertState),
        opened_at=r.instant("opened_at"),
        taken_by=str(taken) if taken else None,
    )


def _digest(r: _Reader) -> Digest:
    sign = r.data.get("sign_off")
    if sign is not None and not isinstance(sign, Mapping):
        raise r._fail("sign_off", "an object")
    return Digest(
        facility_id=r.integer("facility_id"),
        date=r.day("date"),
        text=r.string("text", ""),
        members=tuple(_member(m) for m in r.records("members")),
        alerts=tuple(_alert(a) for a in r.records("alerts")),
        sign_off=(
            SignOff(str(sign.get("action_id") or ""), str(sign.get("value") or ""))
            if sign
            else None
        ),
    )


_DECODERS: dict[str, Callable[[_Reader], Payload]] = {
    "replies": _replies,
    "outage_notice": lambda r: OutageNotice(r.string("text", ""), r.integer("facility_id")),
    "alert": lambda r: Alert(
        r.integer("alert_id"), r.enum("level", AlertLevel), r.string("text", "")
    ),
    "alert_resolved": lambda r: AlertResolved(r.ints("alert_ids"), r.string("text", "")),
    "staff_message": lambda r: StaffMessage(
        r.opt_int("alert_id"), r.integer("staff_id"), r.string("text")
    ),
    "thread_note": lambda r: ThreadNote(r.integer("alert_id"), r.string("text")),
    "renotify": lambda r: Renotify(
        alert_id=r.integer("alert_id"),
        step=r.integer("step"),
        level=r.enum("level", AlertLevel),
        audience=r.enum("audience", RenotifyAudience),
        minutes=r.integer("minutes"),
        business_minutes=r.flag("business_minutes"),
        mentions=r.mentions(),
        text=r.string("text", ""),
    ),
    "digest": _digest,
    "evaluation_due": lambda r: EvaluationDue(
        evaluation=r.enum("evaluation", EvaluationKind),
        facility_id=r.integer("facility_id"),
        period_start=r.day("period_start"),
        member_ids=r.ints("member_ids"),
        text=r.string("text", ""),
    ),
    "approval_expiring": lambda r: ApprovalExpiring(
        facility_id=r.integer("facility_id"),
        member_ids=r.ints("member_ids"),
        approval_until=r.day("approval_until"),
        mentions=r.mentions(),
        text=r.string("text", ""),
    ),
    "account_replaced": lambda r: AccountReplaced(
        member_id=r.integer("member_id"),
        facility_id=r.integer("facility_id"),
        identity_id=r.integer("identity_id"),
        replaced=r.ints("replaced"),
        text=r.string("text", ""),
    ),
    "link_paused": lambda r: LinkPaused(
        r.integer("facility_id"), r.integer("count"), r.string("text", "")
    ),
    "delivery_failed": lambda r: DeliveryFailed(
        r.integer("outbox_id"), r.integer("member_id"), r.string("text", "")
    ),
    "quota_warning": lambda r: QuotaWarning(
        threshold=r.integer("threshold"),
        month=r.string("month"),
        used=r.integer("used"),
        limit=r.integer("limit"),
        text=r.string("text", ""),
    ),
    "outage_summary": lambda r: OutageSummary(
        facility_id=r.integer("facility_id"),
        text=r.string("text", ""),
        count=r.integer("count"),
        mentions=r.mentions(),
    ),
    "evidence_shared": lambda r: EvidenceShared(
        attachment_id=r.integer("attachment_id"),
        member_id=r.integer("member_id"),
        text=r.string("text", ""),
        attach=r.flag("attach"),
    ),
}

KINDS = frozenset(_DECODERS)


def from_json(data: Mapping[str, Any]) -> Payload:
    """A stored payload as its dataclass; PayloadError when a known kind's field is wrong."""
    if not isinstance(data, Mapping):
        raise PayloadError("a payload is a JSON object")
    reader = _Reader(data)
    decode = _DECODERS.get(reader.kind)
    if decode is not None:
        return decode(reader)
    text = data.get("text")
    said = text if isinstance(text, str) else None
    rest = {k: v for k, v in data.items() if k != "kind" and not (k == "text" and said is not None)}
    return Notice(reader.kind, said, rest)
