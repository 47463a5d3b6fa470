"""/health, /metrics and JSON logs on the process's web server (bot/web.py), against a real
migrated SQLite file and PostgreSQL database, over real HTTP."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import observability
from bot.observability import HealthConfig
from bot.privacy import install_log_masking
from bot.settings import Settings
from bot.web import WebServer
from storage.db import Database
from storage.messaging import Outbox
from storage.models import EnterpriseRow, FilingRow, ReminderRow

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


class Loops:
    def __init__(self, **alive: bool) -> None:
        self.alive = alive

    def loops_alive(self) -> Mapping[str, bool]:
        return self.alive


async def _get(config: HealthConfig, *paths: str) -> list[httpx.Response]:
    web = WebServer("127.0.0.1", 0, 1024 * 1024)
    web.add(observability.routes(config))
    port = await web.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            return [await client.get(path) for path in paths]
    finally:
        await web.stop()


def fetch(config: HealthConfig, *paths: str) -> list[httpx.Response]:
    return asyncio.run(_get(config, *paths))


def test_health_is_ready_when_database_and_loops_are(database: Database) -> None:
    observability.touch(observability.WECHAT_CALLBACK)
    config = HealthConfig(database, [Loops(telegram_sender=True, wechat_sender=True)])
    health, live = fetch(config, "/health", "/health/live")
    assert health.status_code == 200
    assert health.headers["content-type"].startswith("application/json")
    report = health.json()
    assert report["status"] == "ok"
    assert report["checks"]["database"] == {"ok": True}
    assert report["checks"]["loops"]["alive"] == {"telegram_sender": True, "wechat_sender": True}
    assert 0 <= report["checks"]["inbound"]["age_seconds"]["wechat_callback"] < 60
    assert live.status_code == 200 and live.json() == {"status": "ok"}


def test_a_dead_sender_loop_makes_it_unready(database: Database) -> None:
    config = HealthConfig(database, [Loops(telegram_sender=False, telegram_updater=True)])
    (health,) = fetch(config, "/health")
    assert health.status_code == 503
    report = health.json()
    assert report["status"] == "fail"
    assert report["checks"]["loops"] == {
        "ok": False,
        "alive": {"telegram_sender": False, "telegram_updater": True},
    }
    assert report["checks"]["database"]["ok"] is True


# A PostgreSQL server that is not there: nothing listens on port 1.
UNREACHABLE = "postgresql://nianjian@127.0.0.1:1/nianjian"


def test_an_unreachable_database_makes_it_unready() -> None:
    db = Database.from_url(UNREACHABLE)
    try:
        health, live = fetch(
            HealthConfig(db, [Loops(wechat_sender=True)]), "/health", "/health/live"
        )
    finally:
        db.dispose()
    assert health.status_code == 503
    assert health.json()["checks"]["database"]["ok"] is False
    assert live.status_code == 200  # alive, only not ready: systemd need not restart it


def test_polling_that_stopped_makes_it_unready(database: Database) -> None:
    observability._last_inbound.pop(observability.TELEGRAM_POLL, None)
    # Started two minutes ago with a 10 s long poll, and no getUpdates ever came back.
    stale = HealthConfig(database, [], polling_timeout=10, started=time.time() - 120)
    (health,) = fetch(stale, "/health")
    assert health.status_code == 503
    assert "no getUpdates" in health.json()["checks"]["inbound"]["error"]
    observability.touch(observability.TELEGRAM_POLL)
    (health,) = fetch(stale, "/health")
    assert health.status_code == 200
    # Webhook mode: a quiet hour is no failure, only reported.
    quiet = HealthConfig(database, [], polling_timeout=None, started=time.time() - 3600)
    (health,) = fetch(quiet, "/health")
    assert health.status_code == 200


def _fill(db: Database) -> None:
    """Two enterprises' filings, outbox items in every state, reminders with recipients whose
    messages were sent, failed, blocked or were never pushed."""
    with db.session() as session:
        for n, status in enumerate(("submitted", "approved"), start=1):
            enterprise = EnterpriseRow(
                credit_code=f"91650100MA77{n:06d}",
                name=f"新疆测试{n}有限公司",
                grade="乙",
                first_year=2020,
                status="active",
                created_at=NOW,
                updated_at=NOW,
            )
            session.add(enterprise)
            session.flush()
            session.add(
                FilingRow(
                    year=2025,
                    status=status,
                    created_at=NOW,
                    updated_at=NOW,
                    enterprise_id=enterprise.id,
                )
            )
        # A trial filing (no enterprise) is not counted.
        session.add(FilingRow(year=2025, status="draft", created_at=NOW, updated_at=NOW))
        outbox = Outbox(session)
        text = [{"type": "text", "text": "您好"}]
        sent, failed, blocked, pending = (
            outbox.add("telegram", "1", text, NOW)[0] for _ in range(4)
        )
        old = outbox.add("wechat", "o1", text, datetime.now(UTC) - timedelta(minutes=10))
        outbox.delivered([sent], NOW)
        outbox.give_up(failed, "failed", "Bad Request: chat not found")
        outbox.give_up(blocked, "blocked", "Forbidden: bot was blocked by the user")
        recipients = [
            {"channel": "telegram", "chat_id": "1", "outbox_id": sent},
            {"channel": "telegram", "chat_id": "1", "outbox_id": failed},
            {"channel": "telegram", "chat_id": "1", "outbox_id": pending},
            {"channel": "telegram", "chat_id": "2", "skipped": "blocked"},
            {"channel": "console", "chat_id": "wang", "skipped": "no push"},
        ]
        for occurrence, status in (("1", "sent"), ("2", "pending"), ("3", "skipped")):
            session.add(
                ReminderRow(
                    year=2025,
                    enterprise_id=1,
                    kind="stamped_form",
                    occurrence=occurrence,
                    due_at=NOW,
                    status=status,
                    created_at=NOW,
                    recipients=json.dumps(recipients) if status == "sent" else None,
                )
            )
        assert old and blocked


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_count_the_database_at_scrape_time(database: Database) -> None:
    _fill(database)
    before = _samples(fetch(HealthConfig(database, []), "/metrics")[0].text)
    observability.update_handled("telegram", 0.03)
    observability.update_handled("telegram", 0.2)
    observability.update_handled("wechat", 1.5)
    (response,) = fetch(HealthConfig(database, []), "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    got = _samples(response.text)

    def value(name: str, **labels: str) -> float:
        return got.get((name, tuple(sorted(labels.items()))), 0.0)

    def delta(name: str, **labels: str) -> float:
        return value(name, **labels) - before.get((name, tuple(sorted(labels.items()))), 0.0)

    assert delta("nianjian_updates_handled_total", channel="telegram") == 2
    assert delta("nianjian_updates_handled_total", channel="wechat") == 1
    assert delta("nianjian_reply_latency_seconds_bucket", channel="telegram", le="0.05") == 1
    assert delta("nianjian_reply_latency_seconds_bucket", channel="telegram", le="0.25") == 2
    assert delta("nianjian_reply_latency_seconds_count", channel="wechat") == 1
    assert value("nianjian_outbox_messages", channel="telegram", status="pending") == 1
    assert value("nianjian_outbox_messages", channel="telegram", status="failed") == 1
    assert value("nianjian_outbox_messages", channel="telegram", status="blocked") == 1
    assert value("nianjian_outbox_messages", channel="wechat", status="pending") == 1
    assert 590 < value("nianjian_outbox_oldest_pending_seconds", channel="wechat") < 3600
    assert value("nianjian_reminders", status="sent") == 1
    assert value("nianjian_reminders", status="pending") == 1
    assert value("nianjian_reminders", status="skipped") == 1
    outcomes = {
        o: value("nianjian_reminder_messages", outcome=o)
        for o in ("sent", "pending", "failed", "blocked", "no_push")
    }
    assert outcomes == {"sent": 1, "pending": 1, "failed": 1, "blocked": 1, "no_push": 1}
    assert value("nianjian_filings", year="2025", status="submitted") == 1
    assert value("nianjian_filings", year="2025", status="approved") == 1
    assert value("nianjian_filings", year="2025", status="draft") == 0


def test_metrics_survive_a_database_that_is_away() -> None:
    db = Database.from_url(UNREACHABLE)
    try:
        (response,) = fetch(HealthConfig(db, []), "/metrics")
    finally:
        db.dispose()
    assert response.status_code == 200
    assert "nianjian_updates_handled_total" in response.text
    assert "nianjian_filings" not in response.text


@pytest.fixture
def root_handler() -> Iterator[logging.StreamHandler]:  # type: ignore[type-arg]
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    saved = root.handlers[:]
    root.handlers = [handler]
    yield handler
    root.handlers = saved


def test_json_logs_are_one_masked_object_per_line(root_handler: logging.StreamHandler) -> None:  # type: ignore[type-arg]
    install_log_masking()
    observability.configure_logging("json")
    log = logging.getLogger("nianjian.test")
    log.warning("contact %s wrote", "13800138000")
    try:
        raise ValueError("GET /bot123456:ABCdef_ghi/getMe for 13912345678")
    except ValueError:
        log.exception("request failed")
    lines = root_handler.stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "contact 138****8000 wrote"
    assert first["level"] == "WARNING" and first["logger"] == "nianjian.test"
    assert "time" in first
    assert "13912345678" not in lines[1] and "ABCdef_ghi" not in lines[1]
    assert "139****5678" in second["exc_info"] and "/bot<token>/getMe" in second["exc_info"]
    observability.configure_logging("text")
    log.warning("plain %s", "13800138000")
    assert (
        root_handler.stream.getvalue()
        .splitlines()[-1]
        .endswith("WARNING nianjian.test plain 138****8000")
    )


def test_the_process_watches_polling_only_when_it_polls(database: Database) -> None:
    polling = Settings(telegram_token="1:A", _env_file=None)
    webhook = Settings(
        telegram_token="1:A",
        telegram_webhook_url="https://nianjian.example.org/telegram",
        _env_file=None,
    )
    wechat_only = Settings(_env_file=None)
    assert HealthConfig.of(database, [], polling).polling_timeout == polling.telegram_poll_timeout
    assert HealthConfig.of(database, [], webhook).polling_timeout is None
    assert HealthConfig.of(database, [], wechat_only).polling_timeout is None
    assert abs(HealthConfig.of(database, [], webhook).started - time.time()) < 5
