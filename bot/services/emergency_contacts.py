"""A member's emergency contacts (family, 主治医, address): what staff need to act at once.

日立市 (domain/003 (4)) asks that 「緊急事態が発生した際には、当該事業所の職員が速やかに利用者の元へ
駆けつけ、必要な対応が実施できる体制を整備すること」, so urgent and crisis alerts carry them to the
staff-only alert channel (adapters/slack/views.py). Stored encrypted in
`member.emergency_contacts` as a list of {label, name, phone, note, entered_at, entered_by}.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core import texts
from bot.services.admin import AdminError
from storage.models import Member

LABELS = ("家族", "主治医", "住所", "その他")
MAX_TEXT = 200
PHONE = re.compile(r"\+?[0-9][0-9\-() ]{5,23}")


@dataclass(frozen=True)
class EmergencyContact:
    label: str
    name: str
    phone: str = ""
    note: str = ""


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())[:MAX_TEXT]


def normalise_phone(text: str | None) -> str:
    """Full-width digits and hyphens become ASCII (「０９０－１２３４－５６７８」); else refused."""
    if not text:
        return ""
    phone = unicodedata.normalize("NFKC", text).strip().replace("ー", "-").replace("−", "-")
    if not PHONE.fullmatch(phone):
        raise AdminError(texts.CONTACT_BAD_PHONE.format(phone=text))
    return phone


def make(label: str, name: str | None, phone: str | None, note: str | None) -> EmergencyContact:
    """A checked contact: a known label, and something staff can act on (for 住所 the
    address goes in --name)."""
    if label not in LABELS:
        raise AdminError(f"--label is one of {'|'.join(LABELS)}, not {label!r}")
    contact = EmergencyContact(label, _clean(name), normalise_phone(phone), _clean(note))
    if not contact.name and not contact.phone:
        raise AdminError(texts.CONTACT_NAME_OR_PHONE)
    return contact


def _raw(member: Member) -> list[dict[str, Any]]:
    return [r for r in member.emergency_contacts or [] if isinstance(r, dict)]


def _contact(raw: dict[str, Any]) -> EmergencyContact:
    return EmergencyContact(
        str(raw.get("label") or ""),
        str(raw.get("name") or ""),
        str(raw.get("phone") or ""),
        str(raw.get("note") or ""),
    )


def contacts_of(member: Member) -> list[EmergencyContact]:
    return [_contact(r) for r in _raw(member)]


def add(member: Member, contact: EmergencyContact, *, now: datetime, by: str) -> int:
    """Append a contact; its number (1-based) as `list` shows it."""
    raw: dict[str, Any] = {
        "label": contact.label,
        "name": contact.name,
        "phone": contact.phone,
        "note": contact.note,
        "entered_at": now.isoformat(),
        "entered_by": by,
    }
    # a new list, not an in-place append: the JSON column only notices assignment
    contacts = [*_raw(member), raw]
    member.emergency_contacts = contacts
    return len(contacts)


def remove(member: Member, number: int) -> EmergencyContact:
    current = _raw(member)
    if not 1 <= number <= len(current):
        raise AdminError(f"{member.name} has no emergency contact number {number}")
    gone = current.pop(number - 1)
    member.emergency_contacts = current
    return _contact(gone)


def line(contact: EmergencyContact, *, note: bool = True) -> str:
    """「家族: 山田 花子 090-1234-5678(母)」."""
    text = f"{contact.label}: {' '.join(p for p in (contact.name, contact.phone) if p)}"
    return f"{text}({contact.note})" if note and contact.note else text


def describe(contacts: Sequence[EmergencyContact]) -> list[str]:
    return [f"{i}\t{line(c)}" for i, c in enumerate(contacts, start=1)]
