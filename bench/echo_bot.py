"""The smallest python-telegram-bot bot: polling, one handler that echoes the text back.

`bench.telegram` runs it beside the filing bot as the yardstick for CPU per update. It reads
TELEGRAM_TOKEN, TELEGRAM_BASE_URL and TELEGRAM_BASE_FILE_URL from the environment like the
filing bot (or `--token`, `--base-url`, `--base-file-url`).

It keeps python-telegram-bot's defaults, as in PTB's own echobot example: updates one after
another. With `concurrent_updates(True)` an update costs it about three times the CPU once
~200 are in flight, because httpcore's connection pool re-checks every pooled connection for
every request; a yardstick should not carry that (the filing bot does; see bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.text is not None:
        await message.reply_text(message.text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.echo_bot", description=__doc__)
    parser.add_argument("--token", default=os.environ.get("TELEGRAM_TOKEN"))
    parser.add_argument(
        "--base-url",
        default=os.environ.get("TELEGRAM_BASE_URL", "https://api.telegram.org/bot"),
    )
    parser.add_argument(
        "--base-file-url",
        default=os.environ.get("TELEGRAM_BASE_FILE_URL", "https://api.telegram.org/file/bot"),
    )
    parser.add_argument("--poll-timeout", type=int, default=10)
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("TELEGRAM_TOKEN or --token is required")
    app = (
        Application.builder()
        .token(args.token)
        .base_url(args.base_url)
        .base_file_url(args.base_file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.run_polling(timeout=args.poll_timeout, allowed_updates=["message"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
