"""`POST /callback/line`: verify, store raw, acknowledge; the work happens afterwards.

LINE wants an answer within seconds and retries (redelivers) otherwise, so the request only
checks the signature over the raw bytes with line-bot-sdk's WebhookParser, stores every event
in `inbox_event` under its `webhookEventId` (a repeat or redelivery of a seen id is a no-op;
concurrent requests share one commit, see storage/inbox_writer.py) and answers 200 once its
events are committed. `after_ack` is then told (it must not block: the 200 does not wait for
the handling); the scheduler loop handles the events again if the process died in between.

The signature is checked by the SDK parser's own validator and the body is read once with
`json.loads`. `WebhookParser.parse` would go on to build the SDK's model of every event, but
nothing reads those models (the inbox keeps and the handler reads the raw event, so that
nothing LINE sent is lost to a model that does not know a field yet), and `parse` rejects
nothing more: an event its models cannot read becomes an `UnknownEvent`. Building them cost
~80 µs of CPU per single-event webhook here, ten times the signature check and `json.loads`
together, and more than storing the event (bench/README.md).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.webhook import WebhookParser

from adapters import json_body
from adapters.body import MAX_BODY_BYTES, TooLarge, read_limited
from adapters.line.events import event_id
from bot.services.metrics import REGISTRY
from storage.db import Database
from storage.inbox_writer import InboxWriter

log = logging.getLogger(__name__)

PATH = "/callback/line"

AfterAck = Callable[[], None]  # new events are stored: handle them soon (must not block)


def _error(status: int, message: str, reason: str) -> Response:
    REGISTRY.inc("nippo_webhooks_rejected_total", platform="line", reason=reason)
    return Response(
        content=json.dumps({"message": message}),
        status_code=status,
        media_type="application/json",
    )


def line_router(
    channel_secret: str,
    db: Database,
    clock: Callable[[], datetime],
    after_ack: AfterAck | None = None,
    writer: InboxWriter | None = None,
) -> APIRouter:
    parser = WebhookParser(channel_secret)
    # One per process: concurrent requests share commits.
    writer = writer or InboxWriter(db, "line", clock)
    router = APIRouter()

    @router.post(PATH)
    async def callback(request: Request) -> Response:
        started = time.perf_counter()
        try:
            raw = await read_limited(request, MAX_BODY_BYTES)
        except TooLarge:
            log.warning("LINE webhook refused: body over 1 MiB")
            return _error(413, "request body too large", "too_large")
        signature = request.headers.get("x-line-signature")
        if not signature:
            log.warning("LINE webhook refused: no signature")
            return _error(400, "missing signature", "no_signature")
        try:
            body = raw.decode("utf-8")
            if not parser.signature_validator.validate(body, signature):
                raise InvalidSignatureError
            payload: Any = json_body.loads(body)
            events = payload["events"]
            if not isinstance(events, list) or not all(
                isinstance(e, dict) and "type" in e for e in events
            ):
                raise ValueError("events is not a list of typed objects")
        except InvalidSignatureError:
            log.warning("LINE webhook refused: bad signature")
            return _error(400, "invalid signature", "bad_signature")
        except (
            UnicodeDecodeError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            RecursionError,
        ):
            # RecursionError: absurdly nested JSON (a signed body can still be hostile).
            log.warning("LINE webhook refused: malformed body")
            return _error(400, "malformed body", "malformed")

        fresh = False
        if events:
            try:
                ids = await writer.store([(event_id(e), e) for e in events])
            except Exception:  # nothing of this request is stored: LINE redelivers it
                return _error(503, "could not store the events", "not_stored")
            for ev, inbox_id in zip(events, ids, strict=True):
                if inbox_id is None:
                    log.info("LINE event seen before", extra={"event_id": event_id(ev)})
                else:
                    fresh = True
        if fresh and after_ack is not None:
            after_ack()
        REGISTRY.inc("nippo_webhooks_received_total", len(events), platform="line")
        acked = time.perf_counter() - started
        REGISTRY.observe("nippo_webhook_ack_seconds", acked, platform="line")
        return Response(status_code=200)

    return router
