"""SQLAlchemy 2 models: every table of DESIGN §4.

Timestamps are stored as UTC and always come back timezone-aware (SQLite keeps no zone).
Unique constraints carry the idempotency of the whole system: one identity per platform user,
one 日報 per member and business date, one inbox row per platform event, one outbox row per
effect key, one alert per alert key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.encrypted import (
    EncryptedBytes,
    EncryptedFloat,
    EncryptedInt,
    EncryptedJSON,
    EncryptedText,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


BIG_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite: INTEGER PRIMARY KEY = rowid


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012


class Facility(Base):
    __tablename__ = "facility"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    tz: Mapped[str] = mapped_column(String(64), default="Asia/Tokyo")
    profile: Mapped[str] = mapped_column(String(32), default="national")
    capacity: Mapped[int | None] = mapped_column(Integer)
    alert_channel: Mapped[str | None] = mapped_column(String(64))
    default_start: Mapped[time] = mapped_column(Time, default=time(10, 0))
    default_end: Mapped[time] = mapped_column(Time, default=time(15, 0))
    ask_temperature: Mapped[bool] = mapped_column(Boolean, default=False)
    # Escalation ladder overrides in minutes (DESIGN §6); empty means the defaults.
    ladder: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What an alert may disclose in Slack (APPI): "full" or "minimal".
    disclosure: Mapped[str] = mapped_column(String(16), default="full")
    # When staff answer members (bot.core.hours.BusinessHours JSON); empty means the defaults.
    business_hours: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    # Lines a member in crisis can call ([{name, phone, hours}]); empty: the national ones.
    crisis_contacts: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    # A record entered more than this after the moment it describes is a 事後記録.
    late_entry_grace_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    office_no: Mapped[str | None] = mapped_column(String(20))  # 事業所番号, on 様式在-1
    created_at: Mapped[datetime]


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="staff")
    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Member(Base):
    __tablename__ = "member"

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kana: Mapped[str | None] = mapped_column(String(200))
    recipient_no: Mapped[str | None] = mapped_column(String(32))  # 受給者証番号
    municipality: Mapped[str | None] = mapped_column(String(100))
    approval_from: Mapped[date | None] = mapped_column(Date)  # 在宅 approval period
    approval_until: Mapped[date | None] = mapped_column(Date)
    approval_kind: Mapped[str | None] = mapped_column(String(16))  # year | three_months
    # A notified exception to 原則の日数 (days used ≤ days in month − 8): what was notified.
    days_exception: Mapped[str | None] = mapped_column(EncryptedText)
    notice_submitted_on: Mapped[date | None] = mapped_column(Date)  # 事前届出 (日立市)
    notice_accepted_on: Mapped[date | None] = mapped_column(Date)
    # family, 主治医, address …: [{"label", "name", "phone", "note"}]; shown to staff on alerts
    emergency_contacts: Mapped[list[Any] | None] = mapped_column(EncryptedJSON())
    voice_contact_hard: Mapped[bool] = mapped_column(Boolean, default=False)  # Sapporo rule
    primary_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    substitute_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    usual_tasks: Mapped[list[str]] = mapped_column(JSON, default=list)
    consent_at: Mapped[datetime | None]  # APPI consent to records and Slack disclosure
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Identity(Base):
    """A platform account, linked to a member or a staff member (or not yet)."""

    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_user_id: Mapped[str] = mapped_column(String(128))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    link_failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    linked_at: Mapped[datetime | None]
    # When the member's own message last came from this account (the platform's timestamp).
    last_seen_at: Mapped[datetime | None]
    # An account cut off from its member keeps its row (raw events still name it): member_id
    # is cleared, and these say when, why ("replaced" by a newer account, "staff") and whose
    # it was, so the records still show which account sent what.
    unlinked_at: Mapped[datetime | None]
    unlinked_reason: Mapped[str | None] = mapped_column(String(16))
    unlinked_member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))


class LinkCode(Base):
    __tablename__ = "link_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]  # a newer code was issued for the member


class LinkFailure(Base):
    """One wrong link code from an unlinked account: the installation-wide hourly limit
    counts these (an unknown account belongs to no facility yet)."""

    __tablename__ = "link_failure"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identity.id"))


class Schedule(Base):
    """A member's weekly pattern: weekday 0=Monday … 6=Sunday."""

    __tablename__ = "schedule"
    __table_args__ = (UniqueConstraint("member_id", "weekday"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    weekday: Mapped[int] = mapped_column(SmallInteger)
    mode: Mapped[str] = mapped_column(String(16))
    start: Mapped[time | None] = mapped_column(Time)
    end: Mapped[time | None] = mapped_column(Time)


class ScheduleException(Base):
    __tablename__ = "schedule_exception"
    __table_args__ = (UniqueConstraint("member_id", "date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    date: Mapped[date] = mapped_column(Date)
    mode: Mapped[str] = mapped_column(String(16))
    start: Mapped[time | None] = mapped_column(Time)
    end: Mapped[time | None] = mapped_column(Time)
    note: Mapped[str | None] = mapped_column(Text)


class FacilityClosure(Base):
    __tablename__ = "facility_closure"
    __table_args__ = (UniqueConstraint("facility_id", "date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"))
    date: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)


class Conversation(Base):
    """The half-finished dialog of one member (DialogState as JSON)."""

    __tablename__ = "conversation"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), unique=True)
    kind: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON(), default=dict)
    expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class DailyReport(Base):
    """The 日報 of one member for one business date. Changed only with a revision."""

    __tablename__ = "daily_report"
    __table_args__ = (UniqueConstraint("member_id", "business_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    business_date: Mapped[date] = mapped_column(Date, index=True)
    mode: Mapped[str] = mapped_column(String(16), default="zaitaku")
    status: Mapped[str] = mapped_column(String(16), default="open")
    start_at: Mapped[datetime | None]
    # Health answers and free text are encrypted at rest when a key is set (storage/crypto.py).
    health_start: Mapped[int | None] = mapped_column(EncryptedInt)
    sleep_hours: Mapped[float | None] = mapped_column(EncryptedFloat)
    temperature: Mapped[float | None] = mapped_column(EncryptedFloat)
    planned_work: Mapped[str | None] = mapped_column(EncryptedText)
    end_at: Mapped[datetime | None]
    work_done: Mapped[str | None] = mapped_column(EncryptedText)
    outputs: Mapped[str | None] = mapped_column(EncryptedText)
    health_end: Mapped[int | None] = mapped_column(EncryptedInt)
    note: Mapped[str | None] = mapped_column(EncryptedText)
    absence_note: Mapped[str | None] = mapped_column(EncryptedText)
    flags: Mapped[dict[str, Any]] = mapped_column(default=dict)  # field -> reason (vague, copied)
    signed_off_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    signed_off_at: Mapped[datetime | None]
    signoff_voided_at: Mapped[datetime | None]  # a later change voided the sign-off
    entered_by: Mapped[str] = mapped_column(String(32), default="bot", server_default="bot")
    late: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # 事後記録
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ReportRevision(Base):
    """One change to one field of a 日報: who, when, before and after."""

    __tablename__ = "report_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("daily_report.id"), index=True)
    field: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(EncryptedText)
    after: Mapped[str | None] = mapped_column(EncryptedText)
    by_member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    source: Mapped[str] = mapped_column(String(32))  # member_correction | staff_edit
    at: Mapped[datetime]  # when it was entered (server clock)
    reason: Mapped[str | None] = mapped_column(EncryptedText)  # 修正理由
    late: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # 事後記録


class Attachment(Base):
    """Evidence (a photo or file of the day's outputs), downloaded at once and kept."""

    __tablename__ = "attachment"
    __table_args__ = (UniqueConstraint("platform", "platform_message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("daily_report.id"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_message_id: Mapped[str] = mapped_column(String(128))
    content_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(EncryptedBytes)
    at: Mapped[datetime]


class SupportRecord(Base):
    """支援記録: every contact with a member, by the bot or by staff."""

    __tablename__ = "support_record"
    __table_args__ = (Index("ix_support_record_member_date", "member_id", "business_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    business_date: Mapped[date] = mapped_column(Date)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))  # line | slack | console | phone | visit …
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    content: Mapped[str] = mapped_column(EncryptedText)
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    entered_at: Mapped[datetime]  # server clock; `at` is the moment it describes
    entered_by: Mapped[str] = mapped_column(String(32))  # staff:ID | member:ID | bot
    late: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # 事後記録
    flags: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")  # vague …


class Alert(Base):
    __tablename__ = "alert"
    __table_args__ = (Index("ix_alert_state_member", "state", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    business_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="open")
    detail: Mapped[str] = mapped_column(EncryptedText, default="")
    opened_at: Mapped[datetime]
    acked_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    acked_at: Mapped[datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(EncryptedText)
    slack_channel: Mapped[str | None] = mapped_column(String(64))
    slack_ts: Mapped[str | None] = mapped_column(String(32))


class Evaluation(Base):
    """A weekly or monthly evaluation (評価シート fields for the monthly one)."""

    __tablename__ = "evaluation"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # weekly | monthly
    date: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(16))  # 訪問 visit | 通所 tsusho | 電話 phone | ict
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    goal: Mapped[str | None] = mapped_column(EncryptedText)  # 訓練目標
    activities: Mapped[str | None] = mapped_column(EncryptedText)  # 取組内容
    achievement: Mapped[str | None] = mapped_column(EncryptedText)  # 達成度
    issues: Mapped[str | None] = mapped_column(EncryptedText)  # 課題
    plan: Mapped[str | None] = mapped_column(EncryptedText)  # 改善方針
    health_notes: Mapped[str | None] = mapped_column(EncryptedText)  # 健康面・体調面の留意事項
    continuation: Mapped[str | None] = mapped_column(EncryptedText)  # 在宅就労継続の妥当性
    counts_as_monthly: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]  # when it was entered (server clock)
    entered_by: Mapped[str] = mapped_column(String(32), default="bot", server_default="bot")
    late: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # 事後記録
    flags: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")  # field → why


class Consent(Base):
    """A member's 同意書: what it covers, when it was given and the staff who took it."""

    __tablename__ = "consent"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    covers: Mapped[list[str]] = mapped_column(JSON, default=list)  # records | evidence | slack
    given_on: Mapped[date] = mapped_column(Date)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    withdrawn_on: Mapped[date | None] = mapped_column(Date)
    entered_at: Mapped[datetime]
    entered_by: Mapped[str] = mapped_column(String(32))


class InboxEvent(Base):
    """A raw inbound event, stored before it is acknowledged."""

    __tablename__ = "inbox_event"
    __table_args__ = (
        UniqueConstraint("platform", "event_id"),
        Index("ix_inbox_event_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(128))
    # Encrypted but for `source` (the sender: the LINE inbox pass orders by it in SQL).
    body: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON(clear=("source",)))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """An outbound message, keyed so that the same effect is never sent twice."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    platform: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(128))  # platform user or channel id
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"), index=True)
    # A neutral Reply (or a Slack alert).
    payload: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())
    reply_token: Mapped[str | None] = mapped_column(String(255))
    reply_token_until: Mapped[datetime | None]
    retry_key: Mapped[str] = mapped_column(String(36))  # X-Line-Retry-Key, reused on retries
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    via: Mapped[str | None] = mapped_column(String(16))  # reply | push | api
    external_id: Mapped[str | None] = mapped_column(String(64))  # e.g. the Slack message ts
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class AuditLog(Base):
    __tablename__ = "audit_log"

    # 64-bit: every write leaves an entry, and at national scale (DESIGN §9) 32 bits run out
    # within the 5 years records are kept. SQLite's INTEGER is 64-bit already.
    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))  # e.g. staff:3, cli, system
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The hash chain, filled when the row is sealed (storage.audit_chain): seq orders it.
    seq: Mapped[int | None] = mapped_column(BIG_ID, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class ConsoleLoginLink(Base):
    """A one-time sign-in link to the staff console: only the SHA-256 of its token is kept."""

    __tablename__ = "console_login_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    issued_by: Mapped[str] = mapped_column(String(64))  # cli | slack:U…


class ConsoleSession(Base):
    """A signed-in browser: the cookie carries the token, the table its hash and last use."""

    __tablename__ = "console_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class Heartbeat(Base):
    """One row `/healthz` rewrites: proof that the database still takes writes (a full disk or
    a read-only file still answers reads)."""

    __tablename__ = "heartbeat"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
