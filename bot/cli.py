"""`nianjian`: the command line (db upgrade, chat, run, roster import, invite)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bot import reminder_admin
from bot.admin import import_roster, issue_invite
from bot.app import App, bootstrap, reminder_schedule
from bot.channels.console import ConsoleChat, default_user
from bot.console_web import add_console, console_started
from bot.export import form_for, run_export
from bot.preview import write_preview
from bot.privacy import install_log_masking
from bot.settings import Settings
from bot.tables import UnreadableTable
from bot.web import WebServer, upload_limit
from dialogs.form import build_form
from dialogs.workdays import CalendarNotCovered
from reminders.schedule import ScheduleError
from storage import migrate


def _admin(settings: Settings, action: Callable[[App], tuple[list[str], bool]]) -> int:
    app = bootstrap(settings)
    try:
        lines, ok = action(app)
    except UnreadableTable as error:
        print(f"✗ {error}", file=sys.stderr)
        return 2
    finally:
        app.db.dispose()
    print("\n".join(lines))
    return 0 if ok else 1


def _chat(settings: Settings, user: str) -> int:
    app = bootstrap(settings)
    try:
        ConsoleChat(app.service, user, sys.stdin, sys.stdout, Path("data/outbox")).run()
    finally:
        app.db.dispose()
    return 0


def _run(settings: Settings, user: str) -> int:
    """Telegram when a token is configured, WeChat when its WECHAT_* settings are (both in
    one process when both are), otherwise the terminal chat."""
    if settings.telegram_token is None and not settings.wechat_enabled():
        return _chat(settings, user)

    logging.getLogger().setLevel(logging.INFO)
    # httpx logs every request URL at INFO, and Bot API URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = bootstrap(settings)
    try:
        asyncio.run(_serve(app, settings))
    finally:
        app.db.dispose()
    return 0


async def _serve(app: App, settings: Settings) -> None:
    """The configured channels and the web server on one event loop until SIGINT or SIGTERM;
    the first channel hosts the reminder runner (the others deliver what it queues from their
    outbox)."""
    web = WebServer(settings.web_host, settings.web_port, upload_limit(settings.max_upload_bytes))
    channels: list[Any] = []
    if settings.telegram_token is not None:
        from bot.channels.telegram.adapter import TelegramChannel

        channels.append(TelegramChannel(app.service, settings, reminders=app.reminder_runner()))
    wechat = None
    if settings.wechat_enabled():
        from bot.channels.wechat.channel import WeChatChannel

        reminders = None if channels else app.reminder_runner()
        wechat = WeChatChannel(app.service, settings, reminders=reminders)
        web.add(wechat.routes())
        channels.append(wechat)
    # The reviewers' web console (/console/); decisions taken there go out through the channels.
    console = add_console(
        app, web, [c.deliver_now for c in channels], wechat.api if wechat else None
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    started = []
    console_started(console, await web.start())
    try:
        for channel in channels:
            await (
                wechat.start(web) if wechat is not None and channel is wechat else channel.start()
            )
            started.append(channel)
        await stopping.wait()
    finally:
        for channel in reversed(started):
            await channel.stop()
        await web.stop()


def _reminders(app: App, args: argparse.Namespace) -> tuple[list[str], bool]:
    if args.action == "list":
        until = args.until or (app.service.clock.now() + timedelta(days=7)).date()
        return reminder_admin.list_reminders(app, until, text=args.text)
    if args.action == "dispatch":
        return reminder_admin.dispatch(app, dry_run=args.dry_run)
    return reminder_admin.blocked(app)


def _form_preview(settings: Settings, year: int | None, out: Path) -> int:
    """The form as a document and a graph; needs no database."""
    form = form_for(build_form(settings.cycle()), year or settings.inspection_year)
    print("\n".join(write_preview(form, out).lines()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nianjian", description="年检助手")
    sub = parser.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="数据库迁移")
    db.add_argument("action", choices=["upgrade", "downgrade", "current"])
    db.add_argument("revision", nargs="?", default=None)
    roster = sub.add_parser("roster", help="导入协会的企业名单（CSV 或 XLSX）")
    roster.add_argument("action", choices=["import"])
    roster.add_argument("file", type=Path)
    invite = sub.add_parser("invite", help="为单位生成一次性邀请码")
    invite.add_argument("credit_code")
    export = sub.add_parser("export", help="导出全部企业的申报（XLSX，或 CSV）给协会")
    export.add_argument("--year", type=int, default=None, help="年检年度（默认当前年度）")
    export.add_argument(
        "--out", type=Path, default=None, help="FILE.xlsx，FILE.zip（CSV 压缩包），或 CSV 目录"
    )
    export.add_argument("--format", choices=["xlsx", "csv"], default=None, help="默认按扩展名")
    form = sub.add_parser("form", help="表单：preview 生成表单文档和对话流程图")
    form.add_argument("action", choices=["preview"])
    form.add_argument("--out", type=Path, default=Path("form-preview"), help="输出目录")
    form.add_argument("--year", type=int, default=None, help="年检年度（默认当前年度）")
    reminders = sub.add_parser(
        "reminders", help="提醒：list 列出将发送的，dispatch 发送到期的，blocked 收不到的联系人"
    )
    reminders.add_argument("action", choices=["list", "dispatch", "blocked"])
    reminders.add_argument(
        "--until", type=date.fromisoformat, help="list：列到这一天为止（北京时间，YYYY-MM-DD）"
    )
    reminders.add_argument("--text", action="store_true", help="list：同时显示提醒全文")
    reminders.add_argument("--dry-run", action="store_true", help="dispatch：只显示，不发送")
    for name in ("chat", "run"):
        p = sub.add_parser(name, help="终端对话" if name == "chat" else "启动机器人")
        p.add_argument("--user", default=default_user(), help="终端用户标识（默认当前系统用户）")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    install_log_masking()
    settings = Settings()
    if args.command == "db":
        if args.action == "upgrade":
            migrate.upgrade(settings.database_url, args.revision or "head")
        elif args.action == "downgrade":
            migrate.downgrade(settings.database_url, args.revision or "base")
        else:
            print(migrate.current_revision(settings.database_url) or "（未迁移）")
        return 0
    if args.command == "form":
        return _form_preview(settings, args.year, args.out)
    try:
        reminder_schedule(settings)
    except (ScheduleError, CalendarNotCovered) as error:
        # At start-up, before anything runs: never a silently wrong reminder date later.
        print(f"✗ {error}", file=sys.stderr)
        return 2
    if args.command == "reminders":
        return _admin(settings, lambda app: _reminders(app, args))
    if args.command == "roster":
        return _admin(settings, lambda app: import_roster(app, args.file).result())
    if args.command == "invite":
        return _admin(settings, lambda app: issue_invite(app, args.credit_code))
    if args.command == "export":
        return _admin(settings, lambda app: run_export(app, args.year, args.out, args.format))
    if args.command == "chat":
        return _chat(settings, args.user)
    return _run(settings, args.user)


if __name__ == "__main__":
    sys.exit(main())
