"""Plain data for the pure core: what members say, what the bot answers, what happened.

Nothing here performs I/O or reads the clock. Timestamps are timezone-aware; business dates
are plain `date`s in the facility's zone, decided by the shell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime, time
from enum import StrEnum

from bot.core.hours import NATIONAL_CRISIS_CONTACTS, BusinessHours, CrisisContact


class Platform(StrEnum):
    LINE = "line"
    SLACK = "slack"
    CONSOLE = "console"


class ContactMethod(StrEnum):
    """How staff reached a member: the stored `support_record.channel` / `evaluation.method`.
    The words staff use for them are `texts.CONTACT_METHOD_LABELS`."""

    PHONE = "phone"
    VISIT = "visit"
    TSUSHO = "tsusho"
    MESSAGE = "message"
    VIDEO = "video"
    ICT = "ict"
    OTHER = "other"


# Which methods each record takes, in the order staff are offered them.
LOGGED_CONTACT_METHODS = (
    ContactMethod.PHONE,
    ContactMethod.VISIT,
    ContactMethod.TSUSHO,
    ContactMethod.MESSAGE,
    ContactMethod.VIDEO,
)  # a 支援記録 staff log by hand (`nippo contact`, /nippo 記録)
# R5: 訪問・通所・電話・ICT; the monthly one (R6) only on site.
EVALUATION_CONTACT_METHODS = (
    ContactMethod.VISIT,
    ContactMethod.TSUSHO,
    ContactMethod.PHONE,
    ContactMethod.ICT,
)
ONSITE_CONTACT_METHODS = (ContactMethod.VISIT, ContactMethod.TSUSHO)
ALERT_RESOLUTION_METHODS = (
    ContactMethod.PHONE,
    ContactMethod.VISIT,
    ContactMethod.MESSAGE,
    ContactMethod.OTHER,
)  # the 対応済み form


class DayMode(StrEnum):
    ZAITAKU = "zaitaku"  # 在宅: works from home, the bot checks in
    TSUSHO = "tsusho"  # 通所: comes to the facility
    OFF = "off"


class ReportStatus(StrEnum):
    OPEN = "open"  # nothing reported yet
    STARTED = "started"
    ENDING = "ending"  # an end time without the outputs yet: not 終了 (R2), shown as 終了報告の途中
    ENDED = "ended"  # end time and outputs (R2: 終了時刻と成果内容)
    ABSENT = "absent"


class DayKind(StrEnum):
    """What a business date is for the check-in, from the plan and what was said so far."""

    PLANNED = "planned"  # a 在宅 day as planned, or one the member or staff already settled
    TSUSHO = "tsusho"  # a planned 通所 day: a member checking in is asked where they work
    UNPLANNED = "unplanned"  # no 在宅 day planned: everything is recorded, staff classify it


# daily_report.flags["day"]: how the day differs from the plan, until staff classify it.
DAY_FLAG = "day"
DAY_UNPLANNED = "unplanned"  # reported on a day with no 在宅 planned (counted as not 在宅)
DAY_TSUSHO_AT_HOME = "tsusho_day_at_home"  # a planned 通所 day the member spent at home


class Phase(StrEnum):
    START = "start"
    END = "end"


class Intent(StrEnum):
    START = "start"
    END = "end"
    ABSENCE = "absence"
    CONSULT = "consult"
    CORRECTION = "correction"
    HELP = "help"
    CANCEL = "cancel"
    SUMMARY = "summary"
    MONTH = "month"  # 今月の記録: the member's own days of the month
    EARLY_FINISH = (
        "early_finish"  # 「午後から病院なので早めに終わります」: tells staff, ends nothing
    )
    SMALLTALK = "smalltalk"  # greetings and small talk: a warm answer, kept as the day's ひとこと


class ReportField(StrEnum):
    """Fields of a 日報 a member can report or correct."""

    START_AT = "start_at"
    HEALTH_START = "health_start"
    SLEEP_HOURS = "sleep_hours"
    TEMPERATURE = "temperature"
    PLANNED_WORK = "planned_work"
    END_AT = "end_at"
    WORK_DONE = "work_done"
    OUTPUTS = "outputs"
    HEALTH_END = "health_end"
    NOTE = "note"


class ConcernKind(StrEnum):
    LOW_HEALTH = "low_health"
    SHORT_SLEEP = "short_sleep"
    FEVER = "fever"
    CRISIS = "crisis"  # suicidal or self-harm intent in the member's words
    DISTRESS = "distress"  # acute danger or strain in the member's words (urgent or watch)
    CONSULT = "consult"
    EARLY_FINISH = "early_finish"  # the member will finish early today (informs staff)


class AlertLevel(StrEnum):
    """Concern tiers (DESIGN §6). WARNING is the "watch" tier; its stored value stays."""

    INFO = "info"
    WARNING = "warning"
    URGENT = "urgent"
    CRISIS = "crisis"

    @property
    def rank(self) -> int:
        """Higher is more serious: digests and boards list the most serious first."""
        return _LEVEL_RANK[self]


_LEVEL_RANK = {
    AlertLevel.INFO: 0,
    AlertLevel.WARNING: 1,
    AlertLevel.URGENT: 2,
    AlertLevel.CRISIS: 3,
}


class AlertState(StrEnum):
    OPEN = "open"
    ACKED = "acked"
    RESOLVED = "resolved"


class StaffRole(StrEnum):
    STAFF = "staff"
    MANAGER = "manager"


class SupportKind(StrEnum):
    """Kinds of 支援記録 entries."""

    START_CHECK = "start_check"
    END_CHECK = "end_check"
    ABSENCE = "absence"
    CONSULT = "consult"
    CORRECTION = "correction"
    REMINDER = "reminder"
    ALERT_ACTION = "alert_action"
    STAFF_CONTACT = "staff_contact"
    EVALUATION = "evaluation"
    EVIDENCE_NOT_KEPT = "evidence_not_kept"  # a photo came, consent did not cover keeping it
    SIGN_OFF = "sign_off"  # a named staff member confirmed the day's 日報 (with advice)


FieldValue = str | int | float | datetime | None


# --- inbound -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactRef:
    """Who sent a message, as the platform names them."""

    platform: Platform
    user_id: str


class MediaKind(StrEnum):
    """What kind of content a member sent as evidence of the day."""

    PHOTO = "photo"
    FILE = "file"
    AUDIO = "audio"  # a voice message
    VIDEO = "video"


@dataclass(frozen=True)
class EvidenceSent:
    """Content a member sent (and the shell kept): what it is and, for voice or video, how
    long it runs."""

    media: MediaKind = MediaKind.PHOTO
    seconds: int | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A normalised message from any front door.

    `choice` is the value of a tapped button (already decoded and checked by the adapter);
    `text` is what the member typed. `sent_at` is the platform's timestamp of the event.
    `evidence` is set when the message was a photo, file, voice or video that was kept.
    """

    event_id: str
    sender: ContactRef
    sent_at: datetime
    text: str = ""
    choice: str | None = None
    reply_token: str | None = None
    evidence: EvidenceSent | None = None


# --- outbound ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A button. `value` is a short, stable token the dialog understands (e.g. "health:4")."""

    label: str
    value: str


class CardTone(StrEnum):
    """What a summary card says at a glance (its colour band and badge on LINE)."""

    PLAIN = "plain"
    START = "start"  # the start check was just recorded
    END = "end"  # the end check was just recorded
    CONCERN = "concern"  # a worrying answer (体調, 睡眠, 体温, words) is on the card


@dataclass(frozen=True)
class Card:
    """A small summary card: a title, label/value rows, an optional footer and its tone."""

    title: str
    rows: tuple[tuple[str, str], ...]
    footer: str = ""
    tone: CardTone = CardTone.PLAIN


class StickerMood(StrEnum):
    """A sticker sent back to a member's sticker; platforms with stickers pick one (LINE)."""

    THANKS = "thanks"
    HELLO = "hello"


@dataclass(frozen=True)
class Reply:
    """A platform-neutral message; adapters render it (LINE quick reply/Flex, Slack Block Kit)."""

    text: str
    choices: tuple[Choice, ...] = ()
    card: Card | None = None
    sticker: StickerMood | None = None  # shown before the text where the platform has them


# --- the day's report as the core sees it --------------------------------------------------


@dataclass(frozen=True)
class ReportSnapshot:
    """The current values of one member's 日報 for one business date."""

    business_date: date
    status: ReportStatus = ReportStatus.OPEN
    start_at: datetime | None = None
    health_start: int | None = None
    sleep_hours: float | None = None
    temperature: float | None = None
    planned_work: str | None = None
    end_at: datetime | None = None
    work_done: str | None = None
    outputs: str | None = None
    health_end: int | None = None
    note: str | None = None

    def value(self, f: ReportField) -> FieldValue:
        v: FieldValue = getattr(self, f.value)
        return v

    def with_value(self, f: ReportField, value: FieldValue) -> ReportSnapshot:
        return replace(self, **{f.value: value})  # type: ignore[arg-type]


def report_status(
    current: ReportStatus | str,
    *,
    start_at: datetime | None,
    end_at: datetime | None,
    outputs: str | None,
) -> ReportStatus:
    """A 日報's status from its fields: the one rule the dialog, records and ticks share.

    R2 (東大阪市): 「作業終了時における終了時間と成果内容の確認は必ず行い支援記録を作成すること」,
    so a day is 終了 only with both; an end time alone is 終了報告の途中 (`ending`). Absence is
    said, not derived: it stays until work is reported.
    """
    if end_at is not None:
        return ReportStatus.ENDED if (outputs or "").strip() else ReportStatus.ENDING
    if start_at is not None:
        return ReportStatus.STARTED
    was = ReportStatus(current)
    return was if was in (ReportStatus.OPEN, ReportStatus.ABSENT) else ReportStatus.OPEN


# --- what happened (events the service turns into rows) ------------------------------------


@dataclass(frozen=True)
class FieldRecorded:
    """A value for a 日報 field. `correction` marks a change the member asked for with 修正."""

    field: ReportField
    value: FieldValue
    correction: bool = False


@dataclass(frozen=True)
class CheckInCompleted:
    """A start or end check is complete: becomes a 支援記録 entry (R2)."""

    phase: Phase
    at: datetime


@dataclass(frozen=True)
class AbsenceNoticed:
    at: datetime
    note: str = ""
    day: date | None = None  # a later business date (「あした休みます」); None: the message's day


@dataclass(frozen=True)
class ConsultRequested:
    at: datetime
    text: str = ""


@dataclass(frozen=True)
class Concern:
    """A worrying answer that staff must hear about at once (R3)."""

    kind: ConcernKind
    level: AlertLevel
    detail: str


@dataclass(frozen=True)
class EntryFlagged:
    """An entry an inspector could read as fabricated (empty, 特になし, copied)."""

    field: ReportField
    reason: str


@dataclass(frozen=True)
class EntryFlagCleared:
    """The member gave the concrete detail asked for: the entry is no longer flagged."""

    field: ReportField


@dataclass(frozen=True)
class DayModeChosen:
    """On a planned 通所 day the member said where they work today; the 日報 says so."""

    mode: DayMode
    at: datetime


@dataclass(frozen=True)
class UnplannedDayReported:
    """Work reported on a day with no 在宅 planned: recorded as said, flagged for staff."""

    at: datetime


DialogEvent = (
    FieldRecorded
    | CheckInCompleted
    | AbsenceNoticed
    | ConsultRequested
    | Concern
    | EntryFlagged
    | EntryFlagCleared
    | DayModeChosen
    | UnplannedDayReported
)


@dataclass(frozen=True)
class Facts:
    """What the dialog may know about the member and the day; gathered by the service."""

    member_name: str
    business_date: date
    report: ReportSnapshot
    tz_offset_minutes: int = 540  # the facility's UTC offset; Asia/Tokyo has no DST
    ask_temperature: bool = False
    usual_tasks: tuple[str, ...] = ()
    previous_report: ReportSnapshot | None = None
    planned_start: time | None = None
    planned_end: time | None = None
    business_hours: BusinessHours = field(default_factory=BusinessHours)
    crisis_contacts: tuple[CrisisContact, ...] = NATIONAL_CRISIS_CONTACTS
    day_kind: DayKind = DayKind.PLANNED  # planned 在宅, planned 通所 (ask), or unplanned
    # 今月の記録: the month's earlier days with a start (today is `report`), oldest first
    month_days: tuple[WorkedDay, ...] = ()


@dataclass(frozen=True)
class WorkedDay:
    """A day with work recorded: when it started and, once said, when it ended."""

    business_date: date
    start_at: datetime
    end_at: datetime | None = None


@dataclass(frozen=True)
class DialogState:
    """A half-finished conversation, stored as JSON between messages."""

    flow: str | None = None  # "start" | "end" | "correct" | None (idle)
    step: str | None = None  # which answer we wait for
    target: str | None = None  # the field being corrected
    nudged: tuple[str, ...] = ()  # fields already nudged for a concrete detail
    skipped: tuple[str, ...] = ()  # optional questions the member skipped
    quick: bool = False  # a one-line report: optional questions are not asked
    checked: bool = False  # this flow's start/end check is complete and recorded (支援記録)
    started: str | None = None  # ISO instant the flow began
    expires_at: str | None = None  # ISO instant after which the flow is dropped

    @property
    def idle(self) -> bool:
        return self.flow is None

    def to_json(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, object] | None) -> DialogState:
        """Rebuild a stored state; unknown or malformed content yields the idle state."""
        if not data:
            return cls()
        known = {f.name for f in fields(cls)}
        try:
            kwargs = {
                k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known
            }
            return cls(**kwargs)  # type: ignore[arg-type]
        except TypeError:
            return cls()


@dataclass(frozen=True)
class StepResult:
    state: DialogState
    replies: tuple[Reply, ...]
    events: tuple[DialogEvent, ...] = field(default_factory=tuple)


# --- serialisation of replies for the outbox -----------------------------------------------


def reply_to_json(reply: Reply) -> dict[str, object]:
    out: dict[str, object] = {"text": reply.text}
    if reply.choices:
        out["choices"] = [{"label": c.label, "value": c.value} for c in reply.choices]
    if reply.card is not None:
        card: dict[str, object] = {
            "title": reply.card.title,
            "rows": [list(r) for r in reply.card.rows],
            "footer": reply.card.footer,
        }
        if reply.card.tone is not CardTone.PLAIN:  # rows stored before tones read back alike
            card["tone"] = reply.card.tone.value
        out["card"] = card
    if reply.sticker is not None:
        out["sticker"] = reply.sticker.value
    return out


def reply_from_json(data: Mapping[str, object]) -> Reply:
    choices_raw = data.get("choices") or []
    card_raw = data.get("card")
    card = None
    if isinstance(card_raw, Mapping):
        rows_raw = card_raw.get("rows") or []
        rows = tuple((str(r[0]), str(r[1])) for r in rows_raw) if isinstance(rows_raw, list) else ()
        tones = {t.value: t for t in CardTone}  # a row stored before tones: plain
        tone = tones.get(str(card_raw.get("tone", "")), CardTone.PLAIN)
        card = Card(str(card_raw.get("title", "")), rows, str(card_raw.get("footer", "")), tone)
    choices = (
        tuple(Choice(str(c["label"]), str(c["value"])) for c in choices_raw)
        if isinstance(choices_raw, list)
        else ()
    )
    moods = {m.value: m for m in StickerMood}
    sticker = moods.get(str(data.get("sticker", "")))
    return Reply(text=str(data.get("text", "")), choices=choices, card=card, sticker=sticker)
