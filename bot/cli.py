"""`nianjian`: the command line, as nested subcommands with their own --help.

A command is a function `(settings, args) -> exit code` registered by one `_add_*` function
below (one line in `COMMANDS`). Routine mistakes end in one line and an exit code (see
`texts_ops.EXIT_CODES`, docs/operator/cli.md), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic.util import CommandError
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from bot import cycle_admin, observability, reminder_admin, texts_ops
from bot.admin import import_roster, issue_invite, run_export
from bot.app import App, bootstrap, holiday_files, reminder_schedule
from bot.channels.console import ConsoleChat, default_user
from bot.channels.wechat.guard import mode_problem
from bot.console_web import add_console, console_started
from bot.export import form_for
from bot.preview import write_preview
from bot.privacy import install_log_masking, register_secret, shown_url
from bot.settings import Settings
from bot.tables import UnreadableTable
from bot.web import WebServer, upload_limit
from dialogs.form import build_form
from dialogs.workdays import SHANGHAI
from reminders.holidays import HolidayFileError
from reminders.schedule import ScheduleError
from storage import migrate
from storage.processes import AlreadyRunning, Presence

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3
EXIT_INTERRUPTED = 130

# Telegram unreachable at start-up: retried after 2, 4, 8 ... seconds, at most this long apart.
RETRY_FIRST = 2.0
RETRY_MAX = 60.0

Handler = Callable[[Settings, argparse.Namespace], int]
Subparsers = Any  # argparse's _SubParsersAction, private in typeshed's eyes


class CliError(Exception):
    """A routine mistake: one line for the operator and the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def require_schema(settings: Settings, *, upgrade: bool = False) -> None:
    """Refuses a database that is unreachable, empty, behind or ahead of this code; with
    `upgrade`, brings one that is behind to head instead."""
    url = settings.database_url
    try:
        state = migrate.schema_state(url)
    except DBAPIError as error:
        raise CliError(
            texts_ops.DB_UNREACHABLE.format(url=shown_url(url), error=_first_line(error.orig)),
            EXIT_DATABASE,
        ) from error
    if state.at_head:
        return
    if state.unknown:
        message = texts_ops.DB_AHEAD.format(current=state.current, head=state.head)
        raise CliError(message, EXIT_DATABASE)
    if upgrade:
        migrate.upgrade(url)
        print(texts_ops.DB_UPGRADED.format(head=state.head))
        return
    if state.current is None:
        message = texts_ops.DB_EMPTY.format(url=shown_url(url), cwd=Path.cwd())
    else:
        message = texts_ops.DB_BEHIND.format(current=state.current, head=state.head)
    raise CliError(message, EXIT_DATABASE)


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --- db ---------------------------------------------------------------------------------------


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    url = settings.database_url
    before = _state_or_fail(url)
    if before.unknown:
        raise CliError(
            texts_ops.DB_AHEAD.format(current=before.current, head=before.head), EXIT_DATABASE
        )
    migrate.upgrade(url, args.revision)
    after = migrate.current_revision(url)
    done = texts_ops.DB_ALREADY if before.current == after else texts_ops.DB_UPGRADED
    print(done.format(head=after))
    return EXIT_OK


def _db_downgrade(settings: Settings, args: argparse.Namespace) -> int:
    url = settings.database_url
    state = _state_or_fail(url)
    known = migrate.known_revisions()
    if args.revision != "base" and args.revision not in known:
        message = texts_ops.DOWNGRADE_UNKNOWN.format(revision=args.revision, known="、".join(known))
        raise CliError(message, EXIT_USAGE)
    if state.current is None or state.current == args.revision:
        print(texts_ops.DOWNGRADE_NOTHING.format(revision=state.current or "base"))
        return EXIT_OK
    base = texts_ops.DOWNGRADE_BASE if args.revision == "base" else ""
    print(
        texts_ops.DOWNGRADE_WARNING.format(current=state.current, revision=args.revision, base=base)
    )
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(texts_ops.DOWNGRADE_NEEDS_YES, EXIT_USAGE)
        if input(texts_ops.DOWNGRADE_ASK).strip().lower() != "yes":
            raise CliError(texts_ops.DOWNGRADE_NEEDS_YES, EXIT_USAGE)
    migrate.downgrade(url, args.revision)
    print(texts_ops.DOWNGRADE_DONE.format(revision=args.revision))
    return EXIT_OK


def _db_current(settings: Settings, args: argparse.Namespace) -> int:
    state = _state_or_fail(settings.database_url)
    current = state.current or texts_ops.DB_NOT_MIGRATED
    print(texts_ops.DB_CURRENT.format(current=current, head=state.head))
    return EXIT_OK


def _state_or_fail(url: str) -> migrate.SchemaState:
    try:
        return migrate.schema_state(url)
    except DBAPIError as error:
        raise CliError(
            texts_ops.DB_UNREACHABLE.format(url=shown_url(url), error=_first_line(error.orig)),
            EXIT_DATABASE,
        ) from error


def _add_db(sub: Subparsers) -> None:
    db = sub.add_parser(
        "db", help="数据库迁移：upgrade、downgrade、current", description="数据库迁移"
    )
    actions = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("upgrade", help="升级到最新版本（或指定版本）")
    up.add_argument("revision", nargs="?", default="head", help="目标版本（默认 head）")
    up.set_defaults(handler=_db_upgrade)
    down = actions.add_parser(
        "downgrade",
        help="降级到指定版本（会删除数据，需确认）",
        description="降级会删除之后版本新增的表和列及其数据；先用 nianjian backup 备份。",
    )
    down.add_argument("revision", help="目标版本，如 0005；base 表示删除全部表")
    down.add_argument("--yes", action="store_true", help="不询问，直接降级")
    down.set_defaults(handler=_db_downgrade)
    actions.add_parser("current", help="显示数据库版本和程序需要的版本").set_defaults(
        handler=_db_current
    )


# --- chat and run -----------------------------------------------------------------------------


def _app(settings: Settings) -> App:
    require_schema(settings)
    return bootstrap(settings)


def _chat(settings: Settings, args: argparse.Namespace) -> int:
    app = _app(settings)
    try:
        ConsoleChat(app.service, args.user, sys.stdin, sys.stdout, Path("data/outbox")).run()
    finally:
        app.db.dispose()
    return EXIT_OK


def _run(settings: Settings, args: argparse.Namespace) -> int:
    """Telegram when a token is configured, WeChat when its WECHAT_* settings are (both in
    one process when both are), otherwise the terminal chat."""
    problem = mode_problem(settings)
    if problem is not None:  # e.g. safe mode (the default) without its key
        raise CliError(problem, EXIT_USAGE)
    require_schema(settings, upgrade=args.upgrade)
    if settings.telegram_token is None and not settings.wechat_enabled():
        return _chat(settings, args)

    logging.getLogger().setLevel(logging.INFO)
    # httpx logs every request URL at INFO, and Bot API URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # python-telegram-bot logs a start-up step that failed for want of a network with its
    # traceback; `_start` retries it and says so in one line.
    for name in ("telegram.ext", "telegram.ext._utils.networkloop"):
        logging.getLogger(name).addFilter(_network_without_traceback)
    app = bootstrap(settings)
    presence = Presence(app.db)
    try:
        presence.join()
        asyncio.run(_serve(app, settings, presence))
    except AlreadyRunning as refused:
        raise CliError(f"✗ {refused}", EXIT_PROBLEM) from refused
    finally:
        presence.leave()
        app.db.dispose()
    return EXIT_OK


async def _serve(app: App, settings: Settings, presence: Presence) -> None:
    """The configured channels and the web server on one event loop until SIGINT or SIGTERM;
    the first channel hosts the reminder runner (the others deliver what it queues from their
    outbox)."""
    web = WebServer(settings.web_host, settings.web_port, upload_limit(settings.max_upload_bytes))
    channels: list[Any] = []
    if settings.telegram_token is not None:
        from bot.channels.telegram.adapter import TelegramChannel

        telegram = TelegramChannel(
            app.service, settings, reminders=app.reminder_runner(), presence=presence
        )
        web.add(telegram.routes())  # the webhook (webhook mode)
        channels.append(telegram)
    wechat = None
    if settings.wechat_enabled():
        from bot.channels.wechat.channel import WeChatChannel

        reminders = None if channels else app.reminder_runner()
        wechat = WeChatChannel(app.service, settings, reminders=reminders, presence=presence)
        web.add(wechat.routes())
        channels.append(wechat)
    web.add(observability.routes(observability.HealthConfig.of(app.db, channels, settings)))
    # The reviewers' web console (/console/); decisions taken there go out through the channels.
    console = add_console(
        app, web, [c.deliver_now for c in channels], wechat.api if wechat else None
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    started = []
    try:
        port = await web.start()
    except OSError as error:
        raise CliError(
            texts_ops.PORT_IN_USE.format(
                what=f"NIANJIAN_WEB_PORT={settings.web_port}", error=error
            ),
            EXIT_USAGE,
        ) from error
    console_started(console, port)
    try:
        for channel in channels:
            if not await _start(channel, stopping, web):
                return
            started.append(channel)
        await stopping.wait()
    finally:
        for channel in reversed(started):
            await channel.stop()
        await web.stop()


def _network_without_traceback(record: logging.LogRecord) -> bool:
    from telegram.error import NetworkError

    if record.exc_info and isinstance(record.exc_info[1], NetworkError):
        record.exc_info = None
        record.exc_text = None
    return True


async def _start(channel: Any, stopping: asyncio.Event, web: WebServer | None = None) -> bool:
    """Starts a channel; a platform that cannot be reached (network down, Telegram busy) is
    retried with a growing pause until it answers or the process is told to stop. A refused
    token or a port already taken ends the process with one line."""
    from telegram.error import InvalidToken, NetworkError

    wait = RETRY_FIRST
    while not stopping.is_set():
        try:
            await (channel.start(web) if web is not None else channel.start())
            return True
        except InvalidToken as error:
            await channel.stop()
            raise CliError(texts_ops.TELEGRAM_BAD_TOKEN.format(error=error), EXIT_USAGE) from error
        except NetworkError as error:
            await channel.stop()
            log.warning(texts_ops.TELEGRAM_RETRY, _first_line(error), wait)
        except OSError as error:  # a channel's own web port cannot be bound
            await channel.stop()
            raise CliError(
                texts_ops.PORT_IN_USE.format(what=_port_setting(channel), error=error), EXIT_USAGE
            ) from error
        try:
            await asyncio.wait_for(stopping.wait(), wait)
        except TimeoutError:
            wait = min(wait * 2, RETRY_MAX)
    return False


def _port_setting(channel: Any) -> str:
    settings: Settings = channel.settings
    return f"NIANJIAN_WEB_PORT={settings.web_port}"


def _add_chat_and_run(sub: Subparsers) -> None:
    chat = sub.add_parser("chat", help="终端对话", description="在终端里填报或审核（试用）。")
    run = sub.add_parser(
        "run",
        help="启动机器人（Telegram、微信；都未配置时为终端对话）",
        description="按设置启动 Telegram（NIANJIAN_TELEGRAM_TOKEN）和/或微信公众号"
        "（NIANJIAN_WECHAT_*）；都未配置时打开终端对话。Ctrl-C 或 SIGTERM 正常退出。",
    )
    for parser in (chat, run):
        parser.add_argument(
            "--user", default=default_user(), help="终端用户标识（默认当前系统用户）"
        )
    run.add_argument("--upgrade", action="store_true", help="数据库落后时先升级（默认拒绝启动）")
    chat.set_defaults(handler=_chat, checks_schedule=True)
    run.set_defaults(handler=_run, checks_schedule=True)


# --- the association's staff ------------------------------------------------------------------


def _admin(settings: Settings, action: Callable[[App], tuple[list[str], bool]]) -> int:
    app = _app(settings)
    try:
        lines, ok = action(app)
    except UnreadableTable as error:
        raise CliError(f"✗ {error}", EXIT_USAGE) from error
    finally:
        app.db.dispose()
    print("\n".join(lines))
    return EXIT_OK if ok else EXIT_PROBLEM


def _reminders(settings: Settings, args: argparse.Namespace) -> int:
    def action(app: App) -> tuple[list[str], bool]:
        if args.action == "list":
            until = args.until or (app.service.clock.now() + timedelta(days=7)).date()
            return reminder_admin.list_reminders(app, until, text=args.text)
        if args.action == "dispatch":
            return reminder_admin.dispatch(app, dry_run=args.dry_run)
        return reminder_admin.blocked(app)

    return _admin(settings, action)


def _add_reminders(sub: Subparsers) -> None:
    reminders = sub.add_parser("reminders", help="提醒：list、dispatch、blocked")
    actions = reminders.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="列出将发送的提醒")
    listing.add_argument(
        "--until",
        type=date.fromisoformat,
        help="列到这一天为止（北京时间，YYYY-MM-DD；默认 7 天后）",
    )
    listing.add_argument("--text", action="store_true", help="同时显示提醒全文")
    dispatch = actions.add_parser("dispatch", help="发送现在到期的提醒（交给运行中的机器人发出）")
    dispatch.add_argument("--dry-run", action="store_true", help="只显示，不发送")
    actions.add_parser("blocked", help="列出收不到提醒的联系人")
    reminders.set_defaults(handler=_reminders, checks_schedule=True)


def _roster(settings: Settings, args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        raise CliError(texts_ops.FILE_MISSING.format(path=path), EXIT_USAGE)
    return _admin(settings, lambda app: import_roster(app, path).result())


def _add_roster(sub: Subparsers) -> None:
    roster = sub.add_parser("roster", help="企业名单：import")
    actions = roster.add_subparsers(dest="action", required=True, metavar="ACTION")
    imp = actions.add_parser("import", help="导入协会的企业名单（CSV 或 XLSX；重复导入会更新）")
    imp.add_argument("file", type=Path, help="名单文件")
    imp.set_defaults(handler=_roster, checks_schedule=True)


def _add_invite(sub: Subparsers) -> None:
    invite = sub.add_parser("invite", help="为单位生成一次性邀请码")
    invite.add_argument("credit_code", help="统一社会信用代码")
    invite.set_defaults(
        handler=lambda s, a: _admin(s, lambda app: issue_invite(app, a.credit_code)),
        checks_schedule=True,
    )


def _add_export(sub: Subparsers) -> None:
    export = sub.add_parser("export", help="导出全部企业的申报（XLSX，或 CSV）给协会")
    export.add_argument("--year", type=int, default=None, help="年检年度（默认当前年度）")
    export.add_argument(
        "--out", type=Path, default=None, help="FILE.xlsx，FILE.zip（CSV 压缩包），或 CSV 目录"
    )
    export.add_argument("--format", choices=["xlsx", "csv"], default=None, help="默认按扩展名")
    export.set_defaults(
        handler=lambda s, a: _admin(s, lambda app: run_export(app, a.year, a.out, a.format)),
        checks_schedule=True,
    )


def _form_preview(settings: Settings, args: argparse.Namespace) -> int:
    """The form as a document and a graph; needs no database."""
    form = form_for(build_form(settings.cycle()), args.year or settings.inspection_year)
    print("\n".join(write_preview(form, args.out).lines()))
    return EXIT_OK


def _add_form(sub: Subparsers) -> None:
    form = sub.add_parser("form", help="表单：preview")
    actions = form.add_subparsers(dest="action", required=True, metavar="ACTION")
    preview = actions.add_parser("preview", help="生成表单文档和对话流程图（不需要数据库）")
    preview.add_argument("--out", type=Path, default=Path("form-preview"), help="输出目录")
    preview.add_argument("--year", type=int, default=None, help="年检年度（默认当前年度）")
    preview.set_defaults(handler=_form_preview)


# --- the inspection cycle ---------------------------------------------------------------------


def _cycle(settings: Settings, args: argparse.Namespace) -> int:
    """`nianjian cycle open Y` / `cycle check` (bot/cycle_admin.py holds the logic)."""
    if args.action == "check":
        report = cycle_admin.holiday_coverage_report(settings)
        print("\n".join(report.lines))
        return EXIT_PROBLEM if report.blocking else EXIT_OK
    if args.year is None:
        example = settings.inspection_year + 1
        raise CliError(f"✗ 请写明年度，例如：nianjian cycle open {example}", EXIT_USAGE)
    options = cycle_admin.CycleOptions(
        results=args.results,
        renewal=args.renewal,
        filing_deadline=args.filing_deadline,
        notify=args.notify,
        roster=args.roster,
        directory=args.dir,
        env_file=args.env_file,
    )
    today = datetime.now(SHANGHAI).date()
    lines, ok = cycle_admin.open_cycle(settings, args.year, options, today)
    print("\n".join(lines))
    return EXIT_OK if ok else EXIT_PROBLEM


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        example = f"{date.today().year + 1}-04-30"
        raise argparse.ArgumentTypeError(
            f"日期“{text}”无法识别：请按 年-月-日 写，例如 {example}"
        ) from None


def _add_cycle(sub: Subparsers) -> None:
    cycle = sub.add_parser("cycle", help="年检年度：open 开启新年度，check 检查节假日数据")
    actions = cycle.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="检查本年度及次年的节假日数据是否齐全")
    opening = actions.add_parser(
        "open",
        help="开启新的年检年度（可重复运行）",
        description="检查并写入新年度需要的：提醒时间表、节假日数据、企业名单，然后切换年度。",
    )
    opening.add_argument("year", nargs="?", type=int, help="要开启的年检年度 Y，如 2026")
    opening.add_argument("--results", type=_day, help="结果公布日（默认次年3月15日）")
    opening.add_argument("--renewal", type=_day, help="续证截止日（默认次年4月30日）")
    opening.add_argument("--filing-deadline", type=_day, help="申报截止日（可选）")
    opening.add_argument("--notify", action="store_true", help="向已绑定的联系人发送年检开始通知")
    opening.add_argument("--roster", type=Path, help="同时导入该年度的企业名单（CSV 或 XLSX）")
    opening.add_argument("--dir", type=Path, default=Path("data/cycles"), help="提醒时间表目录")
    opening.add_argument("--env-file", type=Path, default=Path(".env"), help="写入年度设置的文件")
    for parser in (check, opening):
        parser.set_defaults(handler=_cycle, checks_schedule=False)


# --- operations -------------------------------------------------------------------------------


def _add_doctor(sub: Subparsers) -> None:
    from bot.doctor import add_command

    add_command(sub)


def _add_backup(sub: Subparsers) -> None:
    from bot.backup import add_commands

    add_commands(sub)


# One line per command; the order is the order of `nianjian --help`.
COMMANDS: tuple[Callable[[Subparsers], None], ...] = (
    _add_chat_and_run,
    _add_db,
    _add_doctor,
    _add_backup,
    _add_roster,
    _add_invite,
    _add_export,
    _add_reminders,
    _add_cycle,
    _add_form,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nianjian",
        description=texts_ops.DESCRIPTION,
        epilog=texts_ops.EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            field = str(problem["loc"][0]) if problem["loc"] else "?"
            name = field if field.isupper() else f"NIANJIAN_{field.upper()}"
            lines.append(texts_ops.SETTINGS_INVALID.format(name=name, error=problem["msg"]))
        lines.append(texts_ops.SETTINGS_HINT.format(cwd=Path.cwd()))
        raise CliError("\n".join(lines), EXIT_USAGE) from error


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    install_log_masking()
    settings: Settings | None = None
    try:
        settings = load_settings()
        register_secret(*settings.secret_values())
        observability.configure_logging(settings.log_format)
        if getattr(args, "checks_schedule", False):
            try:
                reminder_schedule(settings, holiday_files(settings).calendar)
            except (ScheduleError, HolidayFileError) as error:
                # At start-up, before anything runs: never a silently wrong reminder date later.
                raise CliError(f"✗ {error}", EXIT_USAGE) from error
        handler: Handler = args.handler
        return handler(settings, args)
    except CliError as error:
        print(error, file=sys.stderr)
        return error.code
    except CommandError as error:  # alembic: a revision it cannot find or go to
        print(texts_ops.MIGRATION_REFUSED.format(error=error), file=sys.stderr)
        return EXIT_USAGE
    except DBAPIError as error:
        url = settings.database_url if settings is not None else ""
        message = texts_ops.DB_UNREACHABLE.format(url=shown_url(url), error=_first_line(error.orig))
        print(message, file=sys.stderr)
        return EXIT_DATABASE
    except FileNotFoundError as error:
        print(texts_ops.FILE_MISSING.format(path=error.filename), file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # a directory not writable, a disk full, ...
        path = error.filename or ""
        print(
            texts_ops.FILE_ERROR.format(path=path, error=error.strerror or error), file=sys.stderr
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\n{texts_ops.INTERRUPTED}", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
