"""Prometheus metrics: process counters plus gauges read from the database at scrape time.

Gauges come from the database so every replica reports the same truth about the outbox and
alerts; counters (webhooks received, ticks) are per process, as Prometheus expects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.usecases.delivery import oldest_pending
from storage.models import Alert, InboxEvent, OutboxMessage

Labels = tuple[tuple[str, str], ...]

HELP = {
    "nippo_webhooks_received_total": ("counter", "Inbound webhook events accepted, by platform."),
    "nippo_webhooks_rejected_total": (
        "counter",
        "Inbound requests refused, by platform and reason.",
    ),
    "nippo_tick_duration_seconds": ("summary", "Scheduler tick duration."),
    "nippo_outbox_messages": ("gauge", "Outbox messages by status."),
    "nippo_outbox_oldest_pending_seconds": (
        "gauge",
        "Age of the oldest unsent outbox message, by platform (0: nothing waiting).",
    ),
    "nippo_inbox_pending": ("gauge", "Inbound events stored but not yet processed."),
    "nippo_inbox_quarantined_total": (
        "counter",
        "Inbound events given up after their last try (inbox status failed), by platform.",
    ),
    "nippo_inbox_timestamps_replaced_total": (
        "counter",
        "Inbound events whose implausible timestamp was replaced by the receipt time.",
    ),
    "nippo_inbox_flood_ignored_total": (
        "counter",
        "Waiting events of an account not linked to a member left unanswered (a flood).",
    ),
    "nippo_alerts_open": ("gauge", "Alerts not yet resolved, by state."),
}


class Registry:
    def __init__(self) -> None:
        self.counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self.summaries: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # count, sum

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        series = self.counters[name]
        series[key] = series.get(key, 0.0) + amount

    def observe(self, name: str, seconds: float) -> None:
        s = self.summaries[name]
        s[0] += 1
        s[1] += seconds

    def render(self, gauges: Mapping[str, Mapping[Labels, float]]) -> str:
        lines: list[str] = []
        for name, series in [*self.counters.items(), *gauges.items()]:
            kind, text = HELP.get(name, ("untyped", name))
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            lines += [f"{name}{_labels(k)} {v:g}" for k, v in sorted(series.items())]
        for name, (count, total) in self.summaries.items():
            kind, text = HELP.get(name, ("summary", name))
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            lines += [f"{name}_count {count:g}", f"{name}_sum {total:g}"]
        return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in labels)
    return "{" + inner + "}"


REGISTRY = Registry()


async def database_gauges(
    session: AsyncSession, now: datetime | None = None, platforms: Sequence[str] = ()
) -> dict[str, dict[Labels, float]]:
    """The gauges; with `now`, the outbox backlog's age too (each of `platforms` reported)."""
    outbox = await session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    alerts = await session.execute(
        select(Alert.state, func.count()).where(Alert.state != "resolved").group_by(Alert.state)
    )
    inbox = await session.execute(
        select(func.count()).select_from(InboxEvent).where(InboxEvent.status == "pending")
    )
    gauges: dict[str, dict[Labels, float]] = {
        "nippo_outbox_messages": {(("status", s),): float(n) for s, n in outbox.all()},
        "nippo_alerts_open": {(("state", s),): float(n) for s, n in alerts.all()},
        "nippo_inbox_pending": {(): float(inbox.scalar_one())},
    }
    if now is not None:
        ages = await oldest_pending(session, now, platforms or None)
        gauges["nippo_outbox_oldest_pending_seconds"] = {
            (("platform", p),): float(round(age)) for p, age in sorted(ages.items())
        }
    return gauges
