"""Health, metrics and log format: what systemd, monitoring and the operator look at.

- `GET /health`: readiness as JSON — the database answers, every channel's background loops
  (the sender's sweeper, ...) are alive, and how long ago Telegram was last polled or a webhook
  or WeChat callback came in. 200 when the process can serve, 503 otherwise (with the failing
  check named). `GET /health/live`: liveness only (the event loop answers).
- `GET /metrics`: Prometheus text format (prometheus-client). Counters and the latency
  histogram are kept in this process; the outbox, reminder and filing gauges are counted in
  the database at scrape time (a few indexed GROUP BY statements). Not for the public: the
  reverse proxy does not pass it (deploy/nginx/nianjian.conf).
- `configure_logging`: plain text or one JSON object per line (`NIANJIAN_LOG_FORMAT=json`),
  with personal numbers and tokens masked either way (bot/privacy.py).

Channels report what they see through `update_handled` and `touch`, module-level like the
prometheus-client metrics they feed: one process, one set of figures.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import tornado.web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import func, select, text

from bot.privacy import MaskingFilter, mask_personal
from bot.settings import Settings
from bot.web import Route
from storage.db import Database
from storage.models import FilingRow, OutboxRow, ReminderRow

log = logging.getLogger(__name__)

# No `*_created` series beside every counter and histogram: nothing here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry()
UPDATES = Counter(
    "nianjian_updates_handled",
    "Incoming updates handled (messages, button presses, files, events), per channel",
    ["channel"],
    registry=REGISTRY,
)
REPLY_LATENCY = Histogram(
    "nianjian_reply_latency_seconds",
    "From taking an update to having answered it (replies of the own chat sent), per channel",
    ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
LAST_INBOUND = Gauge(
    "nianjian_last_inbound_timestamp_seconds",
    "When Telegram was last polled or called the webhook, or WeChat called back (Unix time)",
    ["source"],
    registry=REGISTRY,
)

# Sources of `touch`: a completed getUpdates, a webhook call, a WeChat callback.
TELEGRAM_POLL = "telegram_poll"
TELEGRAM_WEBHOOK = "telegram_webhook"
WECHAT_CALLBACK = "wechat_callback"

_last_inbound: dict[str, float] = {}

# How long the database may take to answer the health check.
DB_TIMEOUT = 3.0
# Polling is stuck when no getUpdates has completed for the long-poll timeout plus this.
POLL_SLACK = 60.0


def update_handled(channel: str, seconds: float) -> None:
    UPDATES.labels(channel).inc()
    REPLY_LATENCY.labels(channel).observe(seconds)


def touch(source: str) -> None:
    now = time.time()
    _last_inbound[source] = now
    LAST_INBOUND.labels(source).set(now)


def last_inbound(source: str) -> float | None:
    return _last_inbound.get(source)


class Watched(Protocol):
    """A channel whose background loops the health check watches."""

    def loops_alive(self) -> Mapping[str, bool]: ...


@dataclass(frozen=True)
class HealthConfig:
    """What the health check must know of the process: its database, its channels, whether
    Telegram polls (then a poll that stopped coming is a failure) and since when it runs."""

    db: Database
    channels: Iterable[Watched]
    polling_timeout: float | None = None  # the long-poll timeout when Telegram polls
    started: float = 0.0

    @classmethod
    def of(cls, db: Database, channels: Iterable[Watched], settings: Settings) -> HealthConfig:
        """For `nianjian run`: the process's channels, started now."""
        polling = settings.telegram_token is not None and not settings.telegram_webhook_url
        timeout = float(settings.telegram_poll_timeout) if polling else None
        return cls(db, channels, timeout, time.time())


def _database_ok(db: Database) -> None:
    with db.session() as session:
        session.execute(text("SELECT 1"))


async def health_report(config: HealthConfig) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {}
    ok = True
    try:
        await asyncio.wait_for(asyncio.to_thread(_database_ok, config.db), DB_TIMEOUT)
        checks["database"] = {"ok": True}
    except Exception as error:  # any failure to answer is "not ready"
        ok = False
        # The kind of failure only: /health is public, the details are in the log.
        log.warning("health: the database did not answer: %s", error)
        checks["database"] = {"ok": False, "error": type(error).__name__}
    loops: dict[str, bool] = {}
    for channel in config.channels:
        loops.update(channel.loops_alive())
    checks["loops"] = {"ok": all(loops.values()), "alive": loops}
    ok = ok and all(loops.values())
    now = time.time()
    ages = {
        source: round(now - seen, 1)
        for source in (TELEGRAM_POLL, TELEGRAM_WEBHOOK, WECHAT_CALLBACK)
        if (seen := last_inbound(source)) is not None
    }
    inbound: dict[str, Any] = {"ok": True, "age_seconds": ages}
    if config.polling_timeout is not None:
        limit = config.polling_timeout + POLL_SLACK
        since = ages.get(TELEGRAM_POLL, now - config.started)
        if since > limit:
            inbound = {**inbound, "ok": False, "error": f"no getUpdates for {since:.0f} s"}
            ok = False
    checks["inbound"] = inbound
    return ok, {"status": "ok" if ok else "fail", "checks": checks}


class HealthHandler(tornado.web.RequestHandler):
    def initialize(self, config: HealthConfig) -> None:
        self.config = config

    async def get(self) -> None:
        ok, report = await health_report(self.config)
        self.set_status(200 if ok else 503)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        await self.finish(json.dumps(report, ensure_ascii=False))


class LiveHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        await self.finish('{"status": "ok"}')


class DatabaseCollector(Collector):
    """Gauges counted in the database when Prometheus scrapes: outbox messages not sent
    (pending / failed / blocked, per channel), reminders by status and by what became of
    their recipients, filings by year and status (trial filings left out)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterable[Metric]:
        try:
            figures = self._count()
        except Exception:
            log.warning("metrics: the database could not be counted", exc_info=True)
            return []
        return figures

    def _count(self) -> list[Metric]:
        outbox = GaugeMetricFamily(
            "nianjian_outbox_messages",
            "Outbox messages not delivered (pending, failed for good, blocked), per channel",
            labels=["channel", "status"],
        )
        oldest = GaugeMetricFamily(
            "nianjian_outbox_oldest_pending_seconds",
            "Age of the oldest pending outbox message, per channel",
            labels=["channel"],
        )
        reminders = GaugeMetricFamily(
            "nianjian_reminders", "Recorded reminders by status", labels=["status"]
        )
        recipients = GaugeMetricFamily(
            "nianjian_reminder_messages",
            "Recipients of sent reminders by outcome: sent, pending, failed, blocked, no_push",
            labels=["outcome"],
        )
        filings = GaugeMetricFamily(
            "nianjian_filings", "Filings by inspection year and status", labels=["year", "status"]
        )
        now = datetime.now(UTC)
        with self.db.session() as session:
            undelivered: dict[int, str] = {}
            rows = session.execute(
                select(
                    OutboxRow.channel,
                    OutboxRow.status,
                    func.count(),
                    func.min(OutboxRow.created_at),
                )
                .where(OutboxRow.status != "sent")
                .group_by(OutboxRow.channel, OutboxRow.status)
            ).all()
            for channel, status, count, first in rows:
                outbox.add_metric([channel, status], count)
                if status == "pending" and first is not None:
                    oldest.add_metric([channel], max((now - first).total_seconds(), 0.0))
            for row_id, status in session.execute(
                select(OutboxRow.id, OutboxRow.status).where(OutboxRow.status != "sent")
            ):
                undelivered[int(row_id)] = str(status)
            for status, count in session.execute(
                select(ReminderRow.status, func.count()).group_by(ReminderRow.status)
            ):
                reminders.add_metric([status], count)
            outcomes = dict.fromkeys(("sent", "pending", "failed", "blocked", "no_push"), 0)
            for (raw,) in session.execute(
                select(ReminderRow.recipients).where(ReminderRow.status == "sent")
            ):
                for entry in json.loads(raw or "[]"):
                    outcomes[_outcome(entry, undelivered)] += 1
            for outcome, count in outcomes.items():
                recipients.add_metric([outcome], count)
            for year, status, count in session.execute(
                select(FilingRow.year, FilingRow.status, func.count())
                .where(FilingRow.enterprise_id.is_not(None))
                .group_by(FilingRow.year, FilingRow.status)
            ):
                filings.add_metric([str(year), status], count)
        return [outbox, oldest, reminders, recipients, filings]


def _outcome(entry: Mapping[str, Any], undelivered: Mapping[int, str]) -> str:
    skipped = entry.get("skipped")
    if skipped is not None:
        return "blocked" if skipped == "blocked" else "no_push"
    outbox_id = entry.get("outbox_id")
    if outbox_id is None:
        return "no_push"
    return undelivered.get(int(outbox_id), "sent")


class MetricsHandler(tornado.web.RequestHandler):
    def initialize(self, generate: Callable[[], bytes]) -> None:
        self.generate = generate

    async def get(self) -> None:
        body = await asyncio.to_thread(self.generate)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        await self.finish(body)


def routes(config: HealthConfig) -> list[Route]:
    """/health, /health/live and /metrics for the process's web server."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(config.db))

    def generate() -> bytes:
        return generate_latest(REGISTRY) + generate_latest(registry)

    return [
        ("/health", HealthHandler, {"config": config}),
        ("/health/live", LiveHandler, {}),
        ("/metrics", MetricsHandler, {"generate": generate}),
    ]


# --- logs --------------------------------------------------------------------------------------


class MaskedJsonFormatter(JsonFormatter):
    """One JSON object per line; masked as a whole, so exception texts are masked too."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_personal(super().format(record))


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(log_format: str) -> None:
    """Sets the format of the root handlers ("text" or "json") and makes sure each masks."""
    formatter: logging.Formatter
    if log_format == "json":
        formatter = MaskedJsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    else:
        formatter = logging.Formatter(TEXT_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
