"""`nianjian`: the command line (db upgrade, chat, run, roster import, invite)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.admin import import_roster, issue_invite
from bot.app import App, bootstrap
from bot.channels.console import ConsoleChat, default_user
from bot.privacy import install_log_masking
from bot.settings import Settings
from bot.tables import UnreadableTable
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
    """Telegram when a token is configured, otherwise the terminal chat."""
    if settings.telegram_token is None:
        return _chat(settings, user)
    from bot.channels.telegram.adapter import TelegramChannel

    logging.getLogger().setLevel(logging.INFO)
    # httpx logs every request URL at INFO, and Bot API URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = bootstrap(settings)
    try:
        TelegramChannel(app.service, settings).run()
    finally:
        app.db.dispose()
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
    if args.command == "roster":
        return _admin(settings, lambda app: import_roster(app, args.file).result())
    if args.command == "invite":
        return _admin(settings, lambda app: issue_invite(app, args.credit_code))
    if args.command == "chat":
        return _chat(settings, args.user)
    return _run(settings, args.user)


if __name__ == "__main__":
    sys.exit(main())
