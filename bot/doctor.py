"""`nianjian doctor`: every check an operator needs before and after going live, one line
each. A check is a small function from settings (and the database, when reachable) to
findings; each names the setting to look at. Exit code 1 when something blocks (✗)."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from bot import texts_ops as t
from bot.app import holiday_files, reminder_schedule
from bot.clock import Clock, SystemClock
from bot.privacy import shown_url
from bot.settings import Settings, env_file_values
from dialogs.workdays import SHANGHAI
from reminders.holidays import HolidayFileError, file_to_fill
from reminders.schedule import ScheduleError
from storage import migrate
from storage.db import Database, make_engine
from storage.models import OutboxRow

# What counts as stuck: a reply pending this long, a reminder this late.
OUTBOX_STUCK = timedelta(minutes=10)
NETWORK_TIMEOUT = 10.0
DEFAULT_MIN_FREE_MB = 1024


class Level(Enum):
    OK = "✓"
    WARN = "!"
    FAIL = "✗"
    SKIP = "–"


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str

    def line(self) -> str:
        return f"{self.level.value} {self.text}"


@dataclass
class Context:
    settings: Settings
    clock: Clock
    min_free_bytes: int
    # The engine once the database is found reachable and at head; None otherwise.
    engine: Engine | None = None
    findings: list[Finding] = field(default_factory=list)

    def add(self, level: Level, text: str) -> None:
        self.findings.append(Finding(level, text))


Check = Callable[[Context], None]


def _short(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


# --- settings ---------------------------------------------------------------------------------


def check_settings(ctx: Context) -> None:
    s = ctx.settings
    ok = True
    try:
        reminder_schedule(s, holiday_files(s).calendar)
    except (ScheduleError, HolidayFileError) as error:
        ctx.add(Level.FAIL, t.SCHEDULE_BAD.format(error=_short(error)))
        ok = False
    wechat = {
        "NIANJIAN_WECHAT_APP_ID": s.wechat_app_id,
        "NIANJIAN_WECHAT_APP_SECRET": s.wechat_app_secret,
        "NIANJIAN_WECHAT_TOKEN": s.wechat_token,
    }
    missing = [name for name, value in wechat.items() if not value]
    if 0 < len(missing) < len(wechat):
        ctx.add(Level.FAIL, t.WECHAT_PARTIAL.format(missing="、".join(missing)))
        ok = False
    webhook = s.telegram_webhook_url
    if webhook and not webhook.startswith("https://"):
        ctx.add(Level.FAIL, t.WEBHOOK_NOT_HTTPS.format(url=webhook))
        ok = False
    retired = retired_settings(Path(".env"))
    if retired:
        names = "、".join(retired)
        ctx.add(Level.WARN, t.RETIRED_SETTING.format(names=names, path=s.telegram_webhook_path))
    if ok:
        ctx.add(Level.OK, t.SETTINGS_OK.format(cwd=Path.cwd()))
    if s.telegram_token is None and not s.wechat_enabled():
        ctx.add(Level.WARN, t.NO_CHANNEL)
    if not s.reviewer_ids():
        ctx.add(Level.WARN, t.NO_REVIEWERS)


# Settings an earlier version read and this one ignores (the Telegram webhook had a server of
# its own); where still set, the proxy in front probably still points at the old port.
RETIRED = ("NIANJIAN_TELEGRAM_WEBHOOK_PORT", "NIANJIAN_TELEGRAM_WEBHOOK_LISTEN")


def retired_settings(env_file: Path) -> list[str]:
    """The retired settings set in the environment or in `env_file`."""
    names = set(os.environ) | set(env_file_values(env_file)[1])
    return [name for name in RETIRED if name in names]


# --- database ---------------------------------------------------------------------------------


def check_database(ctx: Context) -> None:
    url = ctx.settings.database_url
    shown = shown_url(url)
    try:
        state = migrate.schema_state(url)
    except DBAPIError as error:
        ctx.add(Level.FAIL, t.DB_CHECK_UNREACHABLE.format(url=shown, error=_short(error.orig)))
        return
    if state.at_head:
        ctx.add(Level.OK, t.DB_OK.format(url=shown, head=state.head))
        ctx.engine = make_engine(url)
    elif state.current is None:
        ctx.add(Level.FAIL, t.DB_CHECK_EMPTY.format(url=shown))
    elif state.unknown:
        ctx.add(Level.FAIL, t.DB_CHECK_AHEAD.format(current=state.current, head=state.head))
    else:
        ctx.add(Level.FAIL, t.DB_CHECK_BEHIND.format(current=state.current, head=state.head))


# --- files ------------------------------------------------------------------------------------


def _size(n: int) -> str:
    return f"{n / 1024**3:.1f} GB" if n >= 1024**3 else f"{n / 1024**2:.0f} MB"


def check_attachments(ctx: Context) -> None:
    path = ctx.settings.attachments_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-", delete=True) as probe:
            probe.write(b"ok")
            probe.flush()
            os.fsync(probe.fileno())
        free = shutil.disk_usage(path).free
    except OSError as error:
        ctx.add(Level.FAIL, t.FILES_NOT_WRITABLE.format(path=path, error=_short(error)))
        return
    if free < ctx.min_free_bytes:
        needed = _size(ctx.min_free_bytes)
        ctx.add(Level.FAIL, t.FILES_LOW_SPACE.format(path=path, free=_size(free), needed=needed))
    else:
        ctx.add(Level.OK, t.FILES_OK.format(path=path, free=_size(free)))


def _font_problem(path: Path) -> str | None:
    """Why reportlab cannot set Chinese text in this font, or None when it can."""
    if not path.is_file():
        return t.FONT_MISSING
    from reportlab.pdfbase.ttfonts import TTFont

    try:
        font = TTFont("doctor-probe", str(path), subfontIndex=0)
    except Exception as error:  # reportlab raises its own TTFError and plain ones
        return _short(error)
    if ord("年") not in font.face.charToGlyph:
        return t.FONT_NO_CJK
    return None


def check_font(ctx: Context) -> None:
    from bot.declaration import FONT_CANDIDATES

    configured = ctx.settings.pdf_font
    if configured is not None:
        problem = _font_problem(configured)
        if problem is None:
            ctx.add(Level.OK, t.FONT_OK.format(path=configured))
        else:
            ctx.add(Level.FAIL, t.FONT_BAD.format(path=configured, error=problem))
        return
    for candidate in FONT_CANDIDATES:
        if _font_problem(candidate) is None:
            ctx.add(Level.OK, t.FONT_OK.format(path=candidate))
            return
    ctx.add(Level.WARN, t.FONT_NONE)


# --- the cycle --------------------------------------------------------------------------------


def cycle_years(settings: Settings) -> list[int]:
    cycle = settings.cycle()
    return sorted({settings.inspection_year, cycle.results_date.year, cycle.renewal_deadline.year})


def check_holidays(ctx: Context) -> None:
    """Every year the cycle needs working days of (Y, the results and renewal years): a bad
    holiday file blocks; a year no source knows is a warning (Monday to Friday until the
    operator fills its file, see bot/cycle_admin.py)."""
    s = ctx.settings
    try:
        calendar = holiday_files(s).calendar
    except HolidayFileError as error:
        ctx.add(Level.FAIL, t.HOLIDAYS_BAD_FILE.format(error=_short(error)))
        return
    years = cycle_years(s)
    estimated = calendar.estimated(tuple(years))
    for year in estimated:
        where = file_to_fill(s.holidays, year)
        ctx.add(
            Level.WARN,
            t.HOLIDAYS_MISSING.format(missing=year, year=s.inspection_year, file=where),
        )
    if not estimated:
        shown = "、".join(map(str, years))
        ctx.add(Level.OK, t.HOLIDAYS_OK.format(years=shown, year=s.inspection_year))


# --- Telegram ---------------------------------------------------------------------------------


def check_telegram(ctx: Context) -> None:
    if ctx.settings.telegram_token is None:
        ctx.add(Level.SKIP, t.TELEGRAM_OFF)
        return
    for level, text in asyncio.run(_telegram(ctx.settings, ctx.clock.now())):
        ctx.add(level, text)


async def _telegram(s: Settings, now: datetime) -> list[tuple[Level, str]]:
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError
    from telegram.request import HTTPXRequest

    assert s.telegram_token is not None
    request = HTTPXRequest(connect_timeout=NETWORK_TIMEOUT, read_timeout=NETWORK_TIMEOUT)
    bot = Bot(
        s.telegram_token.get_secret_value(),
        base_url=s.telegram_base_url,
        base_file_url=s.telegram_base_file_url,
        request=request,
        get_updates_request=HTTPXRequest(),
    )
    found: list[tuple[Level, str]] = []
    try:
        async with bot:
            found.append((Level.OK, t.TELEGRAM_OK.format(username=bot.username)))
            info = await bot.get_webhook_info()
    except InvalidToken as error:
        return [(Level.FAIL, t.TELEGRAM_TOKEN_REFUSED.format(error=_short(error)))]
    except (NetworkError, TelegramError) as error:
        return [
            *found,
            (
                Level.FAIL,
                t.TELEGRAM_UNREACHABLE.format(url=s.telegram_base_url, error=_short(error)),
            ),
        ]
    wanted = s.telegram_webhook_url
    pending = info.pending_update_count
    if info.last_error_date is not None and info.last_error_message and wanted:
        when = info.last_error_date.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        # Telegram keeps the last error until the next one: only a recent one blocks.
        recent = now - info.last_error_date < timedelta(hours=1)
        text = t.WEBHOOK_ERROR.format(
            url=wanted, when=when, pending=pending, error=info.last_error_message
        )
        found.append((Level.FAIL if recent else Level.WARN, text))
    elif wanted and info.url != wanted:
        found.append(
            (Level.WARN, t.WEBHOOK_OTHER.format(actual=info.url or "（未设置）", url=wanted))
        )
    elif wanted:
        found.append((Level.OK, t.WEBHOOK_OK.format(url=info.url, pending=pending)))
    elif info.url:
        found.append((Level.WARN, t.WEBHOOK_SET_WHILE_POLLING.format(actual=info.url)))
    else:
        found.append((Level.OK, t.WEBHOOK_POLLING.format(pending=pending)))
    return found


# --- WeChat -----------------------------------------------------------------------------------


def check_wechat(ctx: Context) -> None:
    s = ctx.settings
    if not s.wechat_enabled():
        ctx.add(Level.SKIP, t.WECHAT_OFF)
        return
    import requests
    from wechatpy.exceptions import WeChatClientException

    from bot.channels.wechat.api import WeChatApi

    assert s.wechat_app_id is not None and s.wechat_app_secret is not None
    api = WeChatApi(
        s.wechat_app_id,
        s.wechat_app_secret.get_secret_value(),
        s.wechat_api_base_url,
        timeout=NETWORK_TIMEOUT,
    )
    try:
        api.client.fetch_access_token()
    except WeChatClientException as error:
        hint = t.WECHAT_IP_HINT if error.errcode in (40164, 61004) else ""
        detail = f"{error.errcode} {error.errmsg}"
        ctx.add(
            Level.FAIL, t.WECHAT_REFUSED.format(app_id=s.wechat_app_id, error=detail, hint=hint)
        )
    except requests.RequestException as error:
        url = s.wechat_api_base_url
        ctx.add(Level.FAIL, t.WECHAT_UNREACHABLE.format(url=url, error=_short(error)))
    else:
        ctx.add(Level.OK, t.WECHAT_OK.format(app_id=s.wechat_app_id))
    public = s.public_url
    if not public:
        ctx.add(Level.FAIL, t.PUBLIC_URL_MISSING.format(host=s.web_host, port=s.web_port))
    elif not public.startswith("https://"):
        ctx.add(Level.WARN, t.PUBLIC_URL_NOT_HTTPS.format(url=public))
    else:
        callback = public.rstrip("/") + s.wechat_path
        ctx.add(Level.OK, t.PUBLIC_URL_OK.format(url=public, callback=callback))


# --- what the running bot should have done ----------------------------------------------------


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def check_outbox(ctx: Context) -> None:
    if ctx.engine is None:
        ctx.add(Level.SKIP, t.SKIPPED_NO_DB.format(what="发送队列"))
        return
    now = ctx.clock.now()
    db = Database(ctx.engine)
    with db.session() as session:
        counts = dict(
            session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all()
        )
        stuck = session.execute(
            select(func.count(), func.min(OutboxRow.created_at)).where(
                OutboxRow.status == "pending", OutboxRow.created_at < now - OUTBOX_STUCK
            )
        ).one()
        last_error = session.scalar(
            select(OutboxRow.last_error)
            .where(OutboxRow.status == "failed")
            .order_by(OutboxRow.id.desc())
            .limit(1)
        )
    pending, failed = counts.get("pending", 0), counts.get("failed", 0)
    if stuck[0]:
        minutes = int(OUTBOX_STUCK.total_seconds() // 60)
        oldest = _local(stuck[1])
        ctx.add(Level.WARN, t.OUTBOX_BACKLOG.format(count=stuck[0], minutes=minutes, oldest=oldest))
    if failed:
        ctx.add(Level.WARN, t.OUTBOX_FAILED.format(count=failed, error=_short(last_error or "")))
    if not stuck[0] and not failed:
        ctx.add(Level.OK, t.OUTBOX_OK.format(pending=pending, failed=failed))


def check_reminders(ctx: Context) -> None:
    if ctx.engine is None:
        ctx.add(Level.SKIP, t.SKIPPED_NO_DB.format(what="提醒"))
        return
    from bot.app import bootstrap

    try:
        reminder_schedule(ctx.settings, holiday_files(ctx.settings).calendar)
    except (ScheduleError, HolidayFileError):
        ctx.add(Level.SKIP, t.SKIPPED_NO_DB.format(what="提醒"))
        return
    app = bootstrap(ctx.settings, ctx.clock)
    try:
        runner = app.reminder_runner()
        now = ctx.clock.now()
        # The runner wakes at due times and every few minutes: later than that is stuck.
        grace = max(runner.recheck_after() * 2, OUTBOX_STUCK)
        late = [
            m.occurrence.due_at for m in runner.preview(now) if m.occurrence.due_at < now - grace
        ]
    finally:
        app.db.dispose()
    if late:
        minutes = int(grace.total_seconds() // 60)
        ctx.add(
            Level.WARN,
            t.REMINDERS_LATE.format(count=len(late), minutes=minutes, oldest=_local(min(late))),
        )
    else:
        ctx.add(Level.OK, t.REMINDERS_OK)


# The order of the report. Checks after check_database use ctx.engine.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("设置", check_settings),
    ("数据库", check_database),
    ("附件目录", check_attachments),
    ("中文字体", check_font),
    ("节假日数据", check_holidays),
    ("Telegram", check_telegram),
    ("微信公众号", check_wechat),
    ("发送队列", check_outbox),
    ("提醒", check_reminders),
)


@contextmanager
def _disposed(ctx: Context) -> Iterator[None]:
    try:
        yield
    finally:
        if ctx.engine is not None:
            ctx.engine.dispose()


def diagnose(
    settings: Settings, *, clock: Clock | None = None, min_free_mb: int = DEFAULT_MIN_FREE_MB
) -> list[Finding]:
    """Runs every check; one that breaks in an unforeseen way is a finding, not a crash."""
    # libpq waits for a host that drops packets as long as TCP does (minutes).
    os.environ.setdefault("PGCONNECT_TIMEOUT", str(int(NETWORK_TIMEOUT)))
    ctx = Context(settings, clock or SystemClock(), min_free_mb * 1024 * 1024)
    with _disposed(ctx):
        for what, check in CHECKS:
            try:
                check(ctx)
            except Exception as error:
                ctx.add(Level.FAIL, t.CHECK_CRASHED.format(what=what, error=_short(error)))
    return ctx.findings


def _doctor(settings: Settings, args: argparse.Namespace) -> int:
    findings = diagnose(settings, min_free_mb=args.min_free_mb)
    for finding in findings:
        print(finding.line())
    failures = sum(1 for f in findings if f.level is Level.FAIL)
    warnings = sum(1 for f in findings if f.level is Level.WARN)
    if failures:
        print(t.DOCTOR_SUMMARY_FAIL.format(failures=failures, warnings=warnings))
        return 1
    print(t.DOCTOR_SUMMARY_OK.format(warnings=warnings))
    return 0


def add_command(sub: Any) -> None:
    doctor = sub.add_parser("doctor", help="上线前后的全面检查", description=t.DOCTOR_DESCRIPTION)
    doctor.add_argument(
        "--min-free-mb",
        type=int,
        default=DEFAULT_MIN_FREE_MB,
        help=f"附件目录所在磁盘至少要有的剩余空间（MB，默认 {DEFAULT_MIN_FREE_MB}）",
    )
    doctor.set_defaults(handler=_doctor)


__all__ = ["Finding", "Level", "diagnose"]
