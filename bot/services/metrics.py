"""Prometheus metrics (prometheus-client): process counters and histograms, plus gauges read
from the database at scrape time.

Gauges come from the database so every replica reports the same truth about the outbox and
alerts; counters and histograms (webhooks, latencies, ticks) are per process, as Prometheus
expects. Every metric is declared here: `REGISTRY.inc` / `REGISTRY.observe` on a name or a
label set not declared raises, so a typo fails the tests instead of exporting nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Alert, InboxEvent, OutboxMessage

Labels = tuple[tuple[str, str], ...]

CONTENT_TYPE = CONTENT_TYPE_LATEST

# The `*_created` series would double every counter's output for a value nobody graphs.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus-client

# Seconds. A webhook answer is milliseconds (LINE and Slack give up after a few seconds); the
# handling adds the check-in's own work and the reply's round trip; a tick walks every member.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HANDLING_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
TICK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True)
class Spec:
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()  # a histogram's; none for a counter


COUNTERS = {
    "nippo_webhooks_received_total": Spec(
        "Inbound webhook events acknowledged (200), by platform.", ("platform",)
    ),
    "nippo_webhooks_rejected_total": Spec(
        "Inbound webhook requests refused, by platform and reason.", ("platform", "reason")
    ),
    "nippo_inbox_quarantined_total": Spec(
        "Inbound events given up after their last try (inbox status failed), by platform.",
        ("platform",),
    ),
    "nippo_inbox_timestamps_replaced_total": Spec(
        "Inbound events whose implausible timestamp was replaced by the receipt time.",
        ("platform",),
    ),
    "nippo_answers_pushed_total": Spec(
        "Answers to a member's message sent as a (paid) push instead of a reply, by platform "
        "and why: token_expired (answered after the token's window), reply_failed (a reply "
        "attempt failed; the token is single-use), token_refused, no_token.",
        ("platform", "reason"),
    ),
    "nippo_inbox_flood_ignored_total": Spec(
        "Waiting events of an account not linked to a member left unanswered (a flood).",
        ("platform",),
    ),
}

HISTOGRAMS = {
    "nippo_webhook_ack_seconds": Spec(
        "Webhook request received to its 200 answer, by platform.", ("platform",), ACK_BUCKETS
    ),
    "nippo_handling_seconds": Spec(
        "Inbound event received to its reply sent, by platform and how it went out "
        "(LINE: reply or push).",
        ("platform", "via"),
        HANDLING_BUCKETS,
    ),
    "nippo_tick_duration_seconds": Spec("Scheduler tick duration.", (), TICK_BUCKETS),
}

GAUGES = {
    "nippo_outbox_messages": Spec("Outbox messages by status.", ("status",)),
    "nippo_outbox_oldest_pending_seconds": Spec(
        "Age of the oldest unsent outbox message, by platform (0: nothing waiting).",
        ("platform",),
    ),
    "nippo_inbox_pending": Spec("Inbound events stored but not yet processed."),
    "nippo_alerts_open": Spec("Alerts not yet resolved, by state.", ("state",)),
}


class Registry:
    """A facade over one prometheus `CollectorRegistry`: the process (RSS, CPU, open fds),
    platform and GC collectors, and Nippo's declared counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._counters = {
            name: Counter(name, s.help, s.labels, registry=self.registry)
            for name, s in COUNTERS.items()
        }
        self._histograms = {
            name: Histogram(name, s.help, s.labels, registry=self.registry, buckets=s.buckets)
            for name, s in HISTOGRAMS.items()
        }

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        counter = self._counters.get(name)
        if counter is None:
            raise KeyError(f"undeclared counter {name!r}: declare it in bot/services/metrics.py")
        (counter.labels(**labels) if labels else counter).inc(amount)

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        histogram = self._histograms.get(name)
        if histogram is None:
            raise KeyError(f"undeclared histogram {name!r}: declare it in bot/services/metrics.py")
        (histogram.labels(**labels) if labels else histogram).observe(seconds)

    @property
    def counters(self) -> dict[str, dict[Labels, float]]:
        """Each counter's current series (label pairs, sorted → value): for tests."""
        out: dict[str, dict[Labels, float]] = {}
        for name, counter in self._counters.items():
            series = out[name] = {}
            for metric in counter.collect():
                for sample in metric.samples:
                    if sample.name == name:
                        series[tuple(sorted(sample.labels.items()))] = sample.value
        return out

    def render(self, gauges: Mapping[str, Mapping[Labels, float]]) -> bytes:
        """The exposition text: this process's metrics, then the database gauges."""
        return generate_latest(self.registry) + generate_latest(_Gauges(gauges))


@dataclass(frozen=True)
class _Gauges:
    """One scrape's database gauges, shaped as a collector for `generate_latest`."""

    values: Mapping[str, Mapping[Labels, float]]

    def collect(self) -> Iterator[Metric]:
        for name, series in self.values.items():
            spec = GAUGES[name]  # an undeclared gauge fails here, loudly
            family = GaugeMetricFamily(name, spec.help, labels=spec.labels)
            for labels, value in sorted(series.items()):
                values = dict(labels)
                family.add_metric([values[k] for k in spec.labels], value)
            yield family


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
        from bot.services.delivery import oldest_pending  # here: delivery records metrics

        ages = await oldest_pending(session, now, platforms or None)
        gauges["nippo_outbox_oldest_pending_seconds"] = {
            (("platform", p),): float(round(age)) for p, age in sorted(ages.items())
        }
    return gauges
