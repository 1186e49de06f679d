"""Prometheus metrics: process counters plus gauges read from the database at scrape time.

Gauges come from the database so every replica reports the same truth about the outbox and
alerts; counters (webhooks received, ticks) are per process, as Prometheus expects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

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
    "nippo_inbox_pending": ("gauge", "Inbound events stored but not yet processed."),
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


async def database_gauges(session: AsyncSession) -> dict[str, dict[Labels, float]]:
    outbox = await session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    alerts = await session.execute(
        select(Alert.state, func.count()).where(Alert.state != "resolved").group_by(Alert.state)
    )
    inbox = await session.execute(
        select(func.count()).select_from(InboxEvent).where(InboxEvent.status == "pending")
    )
    return {
        "nippo_outbox_messages": {(("status", s),): float(n) for s, n in outbox.all()},
        "nippo_alerts_open": {(("state", s),): float(n) for s, n in alerts.all()},
        "nippo_inbox_pending": {(): float(inbox.scalar_one())},
    }
