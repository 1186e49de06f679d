"""Raw LINE webhook events → what Nippo should do with them (pure).

`to_inbound(event)` reads one event dict exactly as LINE sent it (stored raw in the inbox)
and returns a `LineInbound` or None for events Nippo ignores (groups, rooms, beacons,
unsend …). The report time is the event's own `timestamp`, not when we process it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from adapters.line.render import decode_postback
from bot.domain import ContactRef, InboundMessage, Platform

log = logging.getLogger(__name__)

EVIDENCE_TYPES = {"image", "file"}  # photos or files of the day's outputs


class Kind(StrEnum):
    TEXT = "text"
    CHOICE = "choice"  # one of our buttons
    STALE = "stale"  # a button we cannot read (old format or foreign)
    EVIDENCE = "evidence"
    STICKER = "sticker"
    UNSUPPORTED = "unsupported"  # a message type we cannot use (video, audio, location)
    FOLLOW = "follow"
    UNFOLLOW = "unfollow"


@dataclass(frozen=True)
class LineInbound:
    kind: Kind
    msg: InboundMessage
    button_day: date | None = None  # the business date a pressed button was made for
    message_id: str | None = None  # content to download (EVIDENCE)
    filename: str | None = None
    file_size: int | None = None
    external: bool = False  # image hosted elsewhere: not downloadable from LINE


def event_id(event: Mapping[str, Any]) -> str:
    """LINE's `webhookEventId`; a digest of the event for the odd event without one."""
    given = event.get("webhookEventId")
    if isinstance(given, str) and given:
        return given
    canonical = json.dumps(event, sort_keys=True, ensure_ascii=False).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()[:56]


def sent_at(event: Mapping[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(event.get("timestamp", 0)) / 1000, UTC)


def to_inbound(event: Mapping[str, Any]) -> LineInbound | None:
    source = event.get("source") or {}
    kind = str(event.get("type", ""))
    if source.get("type") != "user" or not source.get("userId"):
        log.info("LINE event outside a 1:1 chat ignored", extra={"event_type": kind})
        return None
    token = event.get("replyToken")
    msg = InboundMessage(
        event_id=event_id(event),
        sender=ContactRef(Platform.LINE, str(source["userId"])),
        sent_at=sent_at(event),
        reply_token=str(token) if token else None,
    )
    if kind == "follow":
        return LineInbound(Kind.FOLLOW, msg)
    if kind == "unfollow":
        return LineInbound(Kind.UNFOLLOW, msg)
    if kind == "postback":
        data = str((event.get("postback") or {}).get("data", ""))
        decoded = decode_postback(data)
        if decoded is None:
            return LineInbound(Kind.STALE, msg)
        return LineInbound(Kind.CHOICE, replace(msg, choice=decoded.value), decoded.day)
    if kind == "message":
        return _message(event.get("message") or {}, msg)
    log.info("LINE event type ignored", extra={"event_type": kind})
    return None


def _message(message: Mapping[str, Any], msg: InboundMessage) -> LineInbound:
    mtype = message.get("type")
    if mtype == "text":
        text = str(message.get("text", ""))
        return LineInbound(Kind.TEXT, replace(msg, text=text))
    if mtype == "sticker":
        return LineInbound(Kind.STICKER, msg)
    if mtype in EVIDENCE_TYPES:
        provider = message.get("contentProvider") or {}
        size = message.get("fileSize")
        return LineInbound(
            Kind.EVIDENCE,
            msg,
            message_id=str(message.get("id", "")),
            filename=str(message["fileName"]) if message.get("fileName") else None,
            file_size=int(size) if isinstance(size, int) else None,
            external=provider.get("type") == "external",
        )
    return LineInbound(Kind.UNSUPPORTED, msg)
