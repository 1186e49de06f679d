"""Structured logs: one JSON object a line, carrying ids only (never names or health answers)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else came in through `extra=` and is kept, except
# uvicorn's copy of its message with terminal colour codes.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class FailedRequestsOnly(logging.Filter):
    """uvicorn's access lines for requests that failed (status 400 and up) only.

    A request that succeeded is on record where it matters (each webhook event in the inbox,
    with the time it came), and the container's health check alone would write 2,880 lines a
    day. What went wrong still shows, beside the app's own warning saying why.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn logs '%s - "%s %s HTTP/%s" %d' with the status code last.
        args = record.args
        status = args[-1] if isinstance(args, tuple) and args else None
        return not isinstance(status, int) or status >= 400


class Throttle(logging.Filter):
    """At most `burst` lines of one kind (logger + message template) per `window` seconds; the
    rest are counted and said once when the next window opens. A flood of refused connections
    or bad requests then costs a few lines a minute, not a line per request (the log of a
    server under a slow-client attack must not fill the disk)."""

    def __init__(self, burst: int = 20, window: float = 60.0) -> None:
        super().__init__()
        self.burst, self.window = burst, window
        self._seen: dict[tuple[str, str], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        start, shown, dropped = self._seen.get(key, (record.created, 0, 0))
        if record.created - start >= self.window:
            if dropped:
                record.msg = f"{record.msg} ({dropped} similar lines suppressed)"
            self._seen[key] = (record.created, 1, 0)
            return True
        if shown < self.burst:
            self._seen[key] = (start, shown + 1, dropped)
            return True
        self._seen[key] = (start, shown, dropped + 1)
        if len(self._seen) > 1000:  # message templates are few; keep the table bounded
            self._seen.clear()
        return False


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # APScheduler logs every run of every job at INFO (two lines per delivery pass, every few
    # seconds): ~57,000 lines a day that say nothing. Its warnings and errors still show.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    access = logging.getLogger("uvicorn.access")
    access.filters[:] = [FailedRequestsOnly(), Throttle()]
    logging.getLogger("uvicorn.error").filters[:] = [Throttle()]
