"""Raw LINE webhook events → neutral inbound events (pure): LINE's normaliser.

`to_inbound(event)` reads one event dict exactly as LINE sent it (stored raw in the inbox)
and returns a `bot.core.inbound.Inbound` or None for events Nippo ignores (groups, rooms,
beacons, unsend …). The report time is the event's own `timestamp`, not when we process it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.line.render import decode_postback
from bot.core.domain import ContactRef, EvidenceSent, InboundMessage, MediaKind, Platform
from bot.core.inbound import EvidenceRef, Inbound, Kind
from bot.core.inbound import MalformedEvent as MalformedEvent

log = logging.getLogger(__name__)

# Photos, files, voice and video of the day's outputs: downloaded at once and kept.
EVIDENCE_TYPES = {
    "image": MediaKind.PHOTO,
    "file": MediaKind.FILE,
    "audio": MediaKind.AUDIO,
    "video": MediaKind.VIDEO,
}
SANE_PAST = timedelta(hours=24)  # older than this at the acknowledgement: not believed
SANE_FUTURE = timedelta(minutes=5)  # later than this after the acknowledgement: not believed
_USED = "recorded as received"


def event_id(event: Mapping[str, Any]) -> str:
    """LINE's `webhookEventId`; a digest of the event for the odd event without one."""
    given = event.get("webhookEventId")
    if isinstance(given, str) and given:
        return given
    canonical = json.dumps(event, sort_keys=True, ensure_ascii=False).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()[:56]


def sent_at(event: Mapping[str, Any], received_at: datetime) -> tuple[datetime, str | None]:
    """When the user sent the event: its `timestamp` (ms since the epoch), or `received_at`
    with a note when that timestamp is missing or implausible (see the module's text)."""
    stamp = event.get("timestamp")
    if stamp is None:
        return received_at, f"no timestamp: {_USED}"
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        raise MalformedEvent("timestamp is not a number")
    try:
        at = datetime.fromtimestamp(stamp / 1000, UTC)
    except (OverflowError, OSError, ValueError):  # beyond what a datetime holds
        return received_at, f"timestamp out of range: {_USED}"
    if at < received_at - SANE_PAST:
        return received_at, f"timestamp {_span(received_at - at)} before receipt: {_USED}"
    if at > received_at + SANE_FUTURE:
        return received_at, f"timestamp {_span(at - received_at)} after receipt: {_USED}"
    return at, None


def _span(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    if minutes < 120:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.0f} h" if minutes < 48 * 60 else f"{minutes / 1440:.0f} d"


def _object(event: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested object of the event; {} when absent, MalformedEvent when not an object."""
    value = event.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedEvent(f"{key} is not an object")
    return value


def to_inbound(event: Mapping[str, Any], received_at: datetime) -> Inbound | None:
    """`received_at`: when the event was acknowledged (the inbox row's `received_at`)."""
    source = _object(event, "source")
    kind = str(event.get("type", ""))
    user = source.get("userId")
    if source.get("type") != "user" or user is None or user == "":
        log.info("LINE event outside a 1:1 chat ignored", extra={"event_type": kind})
        return None
    if not isinstance(user, str):
        raise MalformedEvent("source.userId is not a string")
    token = event.get("replyToken")
    at, note = sent_at(event, received_at)
    msg = InboundMessage(
        event_id=event_id(event),
        sender=ContactRef(Platform.LINE, user),
        sent_at=at,
        reply_token=token if isinstance(token, str) and token else None,
    )
    inbound = _inbound(event, kind, msg)
    return replace(inbound, note=note) if inbound is not None and note else inbound


def _inbound(event: Mapping[str, Any], kind: str, msg: InboundMessage) -> Inbound | None:
    if kind == "follow":
        return Inbound(Kind.FOLLOW, msg)
    if kind == "unfollow":
        return Inbound(Kind.UNFOLLOW, msg)
    if kind == "postback":
        data = str(_object(event, "postback").get("data", ""))
        decoded = decode_postback(data)
        if decoded is None:
            return Inbound(Kind.STALE, msg)
        return Inbound(Kind.CHOICE, replace(msg, choice=decoded.value), decoded.day)
    if kind == "message":
        return _message(_object(event, "message"), msg)
    log.info("LINE event type ignored", extra={"event_type": kind})
    return None


def _message(message: Mapping[str, Any], msg: InboundMessage) -> Inbound:
    mtype = message.get("type")
    mid = message.get("id")
    if not isinstance(mid, str) or not mid:
        raise MalformedEvent("message.id is missing")
    if mtype == "text":
        text = message.get("text", "")
        if not isinstance(text, str):
            raise MalformedEvent("message.text is not a string")
        return Inbound(Kind.TEXT, replace(msg, text=text))
    if mtype == "sticker":  # LINE sends up to 15 keywords for many stickers
        words = message.get("keywords")
        keywords = tuple(w for w in words if isinstance(w, str)) if isinstance(words, list) else ()
        return Inbound(Kind.STICKER, msg, keywords=keywords[:15])
    if isinstance(mtype, str) and mtype in EVIDENCE_TYPES:
        provider = _object(message, "contentProvider")
        size = message.get("fileSize")
        ref = EvidenceRef(
            mid,
            filename=str(message["fileName"]) if message.get("fileName") else None,
            file_size=int(size) if isinstance(size, int) else None,
            external=provider.get("type") == "external",
        )
        sent = EvidenceSent(EVIDENCE_TYPES[mtype], _seconds(message.get("duration")))
        return Inbound(Kind.EVIDENCE, replace(msg, evidence=sent), evidence=ref)
    return Inbound(Kind.UNSUPPORTED, msg)


def _seconds(duration: object) -> int | None:
    """A voice or video message's length (LINE gives milliseconds), in whole seconds."""
    if isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0:
        return None
    return max(1, round(duration / 1000)) if duration else 0


def user_of(event: Any) -> str:
    """The sender's user id of a stored event, "" when it has none (never raises)."""
    source = event.get("source") if isinstance(event, dict) else None
    return str(source.get("userId", "")) if isinstance(source, dict) else ""
