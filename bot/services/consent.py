"""同意書: what a member agreed to, when, and the staff who took it (APPI prior consent).

A consent row covers some of `records` (records kept and shown to the city), `evidence`
(photos, audio and files kept as evidence) and `slack` (health details shown in Slack). Rows
are never rewritten: a withdrawal closes the rows it touches (`withdrawn_on`), and a partial
one opens a new row for what remains. Future dates are refused, so the consent in force now
is the union of the rows not withdrawn; `covered(terms, day)` answers for any past day.

`member.consent_at` is kept in sync for older readers (the moment the newest row in force
was entered, None when nothing is in force); decisions never read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import texts
from bot.core.calendar import business_date
from bot.core.wareki import wareki_date
from bot.services.admin import AdminError
from storage.models import Consent, Facility, Member, Staff

RECORDS, EVIDENCE, SLACK = "records", "evidence", "slack"
COVERS = (RECORDS, EVIDENCE, SLACK)
COVER_LABELS = {
    RECORDS: "記録の保管と市への提出",
    EVIDENCE: "写真・音声等の証拠保存",
    SLACK: "Slackでの詳細表示",
}
CONSENT_HEADERS = (
    "利用者ID", "氏名", "同意の範囲", "同意日", "同意を受けた職員", "撤回日", "記録日時", "記録者",
)  # fmt: skip
NO_CONSENT = "同意書の記録なし"


# --- the pure decision ---------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One consent row as the decisions see it."""

    covers: frozenset[str]
    given_on: date
    withdrawn_on: date | None = None

    def in_force(self, day: date) -> bool:
        return self.given_on <= day and (self.withdrawn_on is None or day < self.withdrawn_on)


def covered(terms: Iterable[Term], day: date) -> frozenset[str]:
    """What the member's consent covers on `day` (a withdrawal counts from its own date)."""
    return frozenset().union(*(t.covers for t in terms if t.in_force(day)))


def current(terms: Iterable[Term]) -> frozenset[str]:
    """What is covered now: no date in a row is in the future, so every row not withdrawn."""
    return frozenset().union(*(t.covers for t in terms if t.withdrawn_on is None))


def slack_details(disclosure: str, covers: frozenset[str]) -> bool:
    """Health details may go to Slack (abroad, APPI) only when the facility allows it and the
    member agreed to it; otherwise an alert says who and what kind, nothing more."""
    return disclosure != "minimal" and SLACK in covers


# Alert kinds whose detail is Nippo's own sentence about the schedule (no answer, no words of
# the member): shown whatever the disclosure, since it tells staff what to do (「電話で確認して
# ください」). Every other kind's detail is what the member said or answered.
OPERATIONAL_ALERT_KINDS = frozenset(
    {"missed_start", "missed_end", "unplanned_day", "tsusho_day_at_home"}
)


def alert_detail(kind: str, disclosure: str, covers: frozenset[str]) -> bool:
    """Whether an alert's detail line may go to Slack."""
    return kind in OPERATIONAL_ALERT_KINDS or slack_details(disclosure, covers)


def parse_covers(text: str) -> frozenset[str]:
    words = {w.strip().lower() for w in text.replace("、", ",").split(",") if w.strip()}
    unknown = sorted(words - set(COVERS))
    if not words or unknown:
        raise AdminError(
            f"--covers is a comma-separated list of {', '.join(COVERS)}"
            + (f", not {', '.join(unknown)}" if unknown else "")
        )
    return frozenset(words)


def labels(covers: Iterable[str]) -> str:
    """「記録の保管と市への提出、Slackでの詳細表示」 in the order of COVERS."""
    wanted = set(covers)
    return "、".join(COVER_LABELS[c] for c in COVERS if c in wanted)


def ordered(covers: Iterable[str]) -> list[str]:
    wanted = set(covers)
    return [c for c in COVERS if c in wanted]


def _term(row: Consent) -> Term:
    return Term(frozenset(row.covers or ()), row.given_on, row.withdrawn_on)


# --- use cases -----------------------------------------------------------------------------


async def rows_of(session: AsyncSession, member_ids: Iterable[int]) -> dict[int, list[Consent]]:
    ids = sorted(set(member_ids))
    out: dict[int, list[Consent]] = {i: [] for i in ids}
    if not ids:
        return out
    stmt = (
        select(Consent)
        .where(Consent.member_id.in_(ids))
        .order_by(Consent.member_id, Consent.given_on, Consent.id)
    )
    for row in (await session.execute(stmt)).scalars():
        out[row.member_id].append(row)
    return out


async def terms_of(session: AsyncSession, member_ids: Iterable[int]) -> dict[int, list[Term]]:
    rows = await rows_of(session, member_ids)
    return {mid: [_term(r) for r in rs] for mid, rs in rows.items()}


async def current_covers(session: AsyncSession, member_id: int) -> frozenset[str]:
    return current((await terms_of(session, [member_id]))[member_id])


async def slack_detail_members(
    session: AsyncSession, facility: Facility, member_ids: Iterable[int]
) -> set[int]:
    """The members whose alerts may carry health details in Slack."""
    terms = await terms_of(session, member_ids)
    return {m for m, t in terms.items() if slack_details(facility.disclosure, current(t))}


def _check_day(facility: Facility, day: date, now: datetime) -> None:
    if day > business_date(facility.tz, now):
        raise AdminError(texts.CONSENT_DAY_IN_FUTURE.format(day=day.isoformat()))


async def _sync_consent_at(session: AsyncSession, member: Member) -> None:
    await session.flush()
    rows = (await rows_of(session, [member.id]))[member.id]
    alive = [r.entered_at for r in rows if r.withdrawn_on is None]
    member.consent_at = max(alive) if alive else None


async def record(
    session: AsyncSession,
    facility: Facility,
    member: Member,
    *,
    covers: frozenset[str],
    given_on: date,
    staff: Staff,
    now: datetime,
) -> Consent:
    """Record a 同意書 as given on `given_on` (today or earlier), taken by `staff`."""
    _check_day(facility, given_on, now)
    row = Consent(
        member_id=member.id,
        covers=ordered(covers),
        given_on=given_on,
        staff_id=staff.id,
        withdrawn_on=None,
        entered_at=now,
        entered_by=f"staff:{staff.id}",
    )
    session.add(row)
    await _sync_consent_at(session, member)
    return row


async def withdraw(
    session: AsyncSession,
    facility: Facility,
    member: Member,
    *,
    covers: frozenset[str] | None,
    on: date,
    staff: Staff,
    now: datetime,
) -> list[Consent]:
    """Withdraw `covers` (None: everything) from `on`. Each row in force that covers any of
    them is closed; what else it covered carries on in a new row dated `on`, taken by the
    staff who recorded the withdrawal. Returns the new rows (empty for a full withdrawal)."""
    _check_day(facility, on, now)
    rows = [r for r in (await rows_of(session, [member.id]))[member.id] if _term(r).in_force(on)]
    touched = [r for r in rows if covers is None or covers & set(r.covers or ())]
    if not touched:
        raise AdminError(
            texts.CONSENT_NONE_TO_WITHDRAW.format(name=member.name, day=on.isoformat())
        )
    remaining: set[str] = set()
    for r in touched:
        r.withdrawn_on = on
        remaining |= set(r.covers or ()) - (covers or set(COVERS))
    # what untouched rows cover goes on anyway; a new row only for what would be lost
    remaining -= set().union(*(set(r.covers or ()) for r in rows if r not in touched))
    new = []
    if remaining:
        new.append(
            Consent(
                member_id=member.id,
                covers=ordered(remaining),
                given_on=on,
                staff_id=staff.id,
                withdrawn_on=None,
                entered_at=now,
                entered_by=f"staff:{staff.id}",
            )
        )
        session.add_all(new)
    await _sync_consent_at(session, member)
    return new


# --- reading -------------------------------------------------------------------------------


def _entered_by_staff(entered_by: str) -> int | None:
    kind, _, ident = entered_by.partition(":")
    return int(ident) if kind == "staff" and ident.isdigit() else None


async def _staff_names(session: AsyncSession, rows: Iterable[Consent]) -> dict[int, str]:
    """Names of the staff who took or entered these rows."""
    wanted = set()
    for r in rows:
        wanted |= {i for i in (r.staff_id, _entered_by_staff(r.entered_by)) if i is not None}
    if not wanted:
        return {}
    found = await session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(wanted)))
    return {int(i): str(n) for i, n in found.all()}


def _local(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _who(entered_by: str, staff: dict[int, str]) -> str:
    ident = _entered_by_staff(entered_by)
    return staff.get(ident, entered_by) if ident is not None else entered_by


async def describe(
    session: AsyncSession, facility: Facility, members: Sequence[Member]
) -> list[str]:
    """`nippo member consent …`: per member what is covered now, then every row."""
    rows = await rows_of(session, [m.id for m in members])
    staff = await _staff_names(session, (r for rs in rows.values() for r in rs))
    lines = []
    for m in members:
        now_covers = current(_term(r) for r in rows[m.id])
        lines.append(f"{m.id}\t{m.name}\t{','.join(ordered(now_covers)) or 'none'}")
        for r in rows[m.id]:
            withdrawn = f" withdrawn {r.withdrawn_on.isoformat()}" if r.withdrawn_on else ""
            lines.append(
                f"  {r.given_on.isoformat()} {','.join(ordered(r.covers))}"
                f" taken by {staff.get(r.staff_id or 0, '-')}{withdrawn}"
                f" (entered {_local(r.entered_at, facility.tz)} by {_who(r.entered_by, staff)})"
            )
    return lines


async def export_rows(
    session: AsyncSession, facility: Facility, members: Sequence[Member], first: date, last: date
) -> list[tuple[str | int | None, ...]]:
    """同意書の記録 for a month: every row in force on some day of it, and a line for each
    member with none (an officer asks for those first)."""
    rows = await rows_of(session, [m.id for m in members])
    staff = await _staff_names(session, (r for rs in rows.values() for r in rs))
    out: list[tuple[str | int | None, ...]] = []
    for m in members:
        shown = [
            r
            for r in rows[m.id]
            if r.given_on <= last and (r.withdrawn_on is None or r.withdrawn_on > first)
        ]
        if not shown:
            out.append((m.id, m.name, NO_CONSENT, None, None, None, None, None))
        for r in shown:
            out.append(
                (
                    m.id,
                    m.name,
                    labels(r.covers),
                    wareki_date(r.given_on),
                    staff.get(r.staff_id or 0),
                    wareki_date(r.withdrawn_on) if r.withdrawn_on else None,
                    _local(r.entered_at, facility.tz),
                    _who(r.entered_by, staff),
                )
            )
    return out
