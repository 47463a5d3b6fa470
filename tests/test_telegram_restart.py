"""The Telegram channel around restarts: a button press delivered again after a restart (too
old to answer), a failed cosmetic call, and a photo album whose bot dies within a second of
its last photo (the bot as a real process, SIGKILLed)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.channels.telegram.adapter import FAILED
from dialogs.model import FileRef
from storage.db import Database
from storage.files import AttachmentStore
from storage.migrate import upgrade
from storage.repository import ConversationRepository, FilingRepository
from tests import filing_script as script
from tests.fake_telegram import FakeTelegram
from tests.fakes import make_service
from tests.test_telegram import (
    USER,
    answers_of,
    bot_running,
    current_field,
    fast_forward,
    jpeg_bytes,
    press,
    run,
    say,
    steps_before,
    text_of,
)
from tests.test_telegram_durability import bot_env

TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


def test_a_press_too_old_to_answer_is_still_handled(tmp_path: Path) -> None:
    """After a restart Telegram delivers a press again; answering its callback query fails
    ("query is too old"). The press is handled as any other, and nobody is told it failed."""
    with FakeTelegram() as fake:

        async def scenario() -> None:
            async with bot_running(fake, tmp_path) as bot:
                steps = steps_before("乙")
                await asyncio.to_thread(fast_forward, bot.service, steps)
                await say(bot, "/start")
                grade = fake.messages_to(USER)[-1]
                fake.fail_next("answerCallbackQuery", error_code=400, description=TOO_OLD)
                fake.fail_next("editMessageText", error_code=400, description="message is old")
                reply = await press(bot, grade, grade.callback_data[1])
                assert "资质等级：乙级" in text_of(reply)
                assert await asyncio.to_thread(current_field, bot) == "enterprise.cert_number"
                assert "乙" in str(await asyncio.to_thread(answers_of, bot))
                assert not [m for m in fake.messages_to(USER) if FAILED in (m.text or "")]

        run(scenario())


# --- an album and a kill ----------------------------------------------------------------------

TIMEOUT = 30.0
LICENCE = next(
    s for s in script.filing_script() if isinstance(s, script.Upload) and s.name == "营业执照.png"
)


def _licence(db: Database, chat: str) -> FileRef | None:
    with db.session() as session:
        conversation = ConversationRepository(session).get("telegram", chat)
        if conversation is None or conversation.filing_id is None:
            return None
        filing = FilingRepository(session).load(conversation.filing_id)
    for key, answer in filing.answers.items():
        if key.field == "attach.licence" and isinstance(answer.value, FileRef):
            return answer.value
    return None


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX only")
@pytest.mark.parametrize("after", [0.7, 0.9])
def test_an_album_survives_a_kill_right_after_it(tmp_path: Path, after: float) -> None:
    url = f"sqlite:///{tmp_path / 'nj.db'}"
    upgrade(url)
    db = Database.from_url(url)
    env = bot_env(tmp_path)
    env["NIANJIAN_TRIAL_CHANNELS"] = "console,telegram"
    try:
        with FakeTelegram() as fake:
            env.update(
                TELEGRAM_TOKEN=fake.token,
                TELEGRAM_BASE_URL=fake.base_url,
                TELEGRAM_BASE_FILE_URL=fake.base_file_url,
            )

            def start(log: str) -> subprocess.Popen[bytes]:
                with (tmp_path / log).open("wb") as out:
                    return subprocess.Popen(
                        [sys.executable, "-m", "bot.cli", "run"],
                        cwd=tmp_path,
                        env=env,
                        stdout=out,
                        stderr=out,
                    )

            # Up to the licence question, through the service (nothing goes to Telegram).
            service = make_service(db, tmp_path / "files", trial=("telegram",))
            fast_forward(service, steps_before(LICENCE))
            bot = start("bot-1.log")
            try:
                fake.wait_for(lambda: fake.requests["getUpdates"] >= 1, TIMEOUT, "polling")
                sent = time.monotonic()
                fake.send_album(USER, [script.png_bytes(), jpeg_bytes()])
                fake.wait_for(lambda: not fake.pending_updates, TIMEOUT, "photos taken")
                # Taken, and confirmed to Telegram by the next poll, which the bot makes at
                # once: Telegram never sends them again. The bot dies before the album
                # (gathered for a second after its last photo) is stored.
                time.sleep(max(0.0, sent + after - time.monotonic()))
                bot.kill()
                bot.wait(TIMEOUT)
                assert _licence(db, str(USER)) is None  # the album was not stored yet
                bot = start("bot-2.log")
                replies = fake.wait_for_messages(USER, 1, TIMEOUT)
            finally:
                bot.kill()
                bot.wait(TIMEOUT)
            shown = "\n".join(m.text or "" for m in replies)
            assert re.search(r"已收到文件：营业执照（2页）\.pdf（\d+ [KM]B）", shown), shown
            licence = _licence(db, str(USER))
            assert licence is not None and licence.name == "营业执照（2页）.pdf"
            pdf = AttachmentStore(tmp_path / "files").read(licence.sha256)
            assert pdf.startswith(b"%PDF") and b"/Count 2" in pdf
    finally:
        db.dispose()
