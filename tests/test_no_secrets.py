"""No secret where it does not belong. Every failure path that could carry one is forced —
WeChat's API unreachable, a token fetch answered 5xx with the URL (and its `secret=`) echoed,
WeChat's JSON error echoing the request, a token refresh that fails, a media download that
fails; Telegram refusing a message with the bot's URL in the reason, 5xx and network errors —
and then the captured log (at DEBUG, through the filter `nianjian` installs on its handlers)
and every text column of every table are searched for each secret: the app secret, the AES
key, the link secret, the WeChat token, access tokens, callback signatures, link tokens, the
Telegram token and the webhook secret."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import String, select

from bot.channels.telegram.sender import _NETWORK_ATTEMPTS
from bot.channels.wechat.delivery import CHANNEL
from bot.privacy import MaskingFilter, redact, register_secret
from dialogs.replies import FileRequest, to_payload
from storage.db import Database
from storage.messaging import Outbox
from storage.models import Base, OutboxRow
from tests.fake_telegram import FakeTelegram
from tests.fake_wechat import AES_KEY, APP_SECRET, TOKEN, FakeWeChat
from tests.fakes import FrozenClock
from tests.test_telegram import USER as TG_USER
from tests.test_telegram import bot_running as telegram_running
from tests.test_telegram import jpeg_bytes, say
from tests.wechat_harness import PAGE_LINK, Bot, Person, bot_running, download, wait_until

USER = "oSecretsUser00000000000001"
LINK_SECRET = "link-secret-9f3Kq2Zm"
WEBHOOK_SECRET = "webhook-secret-Vb81xQ0p"
TRIAL: dict[str, Any] = {"trial_channels": "console,wechat,telegram"}
# A signed page link's token (outbox id, expiry, HMAC), wherever it appears.
LINK_TOKEN = re.compile(r"\d{1,12}\.\d{9,12}\.[A-Za-z0-9_-]{22}")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything logged, at DEBUG, through the filter `nianjian` puts on its log handlers."""
    masking = MaskingFilter()
    caplog.handler.addFilter(masking)
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        caplog.handler.removeFilter(masking)


def text_columns(db: Database) -> list[tuple[str, str, str]]:
    """(table, column, value) of every non-empty text value in the database."""
    found = []
    with db.session() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String)]
            if not columns:
                continue
            for row in session.execute(select(*columns)):
                found += [
                    (table.name, c.name, str(v)) for c, v in zip(columns, row, strict=True) if v
                ]
    return found


def assert_nowhere(secrets: list[str], logs: pytest.LogCaptureFixture, dbs: list[Database]) -> None:
    texts = [("log", "text", logs.text)]
    texts += [("log", "message", r.getMessage()) for r in logs.records]
    texts += [("log", "traceback", r.exc_text or "") for r in logs.records]
    for db in dbs:
        texts += text_columns(db)
    for where, column, text in texts:
        for secret in secrets:
            assert secret not in text, f"{secret[:4]}… in {where}.{column}: {text[:300]}"
        assert not LINK_TOKEN.search(text), f"a link token in {where}.{column}: {text[:300]}"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def queue_file_request(bot: Bot) -> None:
    """A question with a file slot: its text carries a personal upload link when sent."""
    request = FileRequest("请上传营业执照。", "attach.licence", "营业执照")
    with bot.db.session() as session:
        Outbox(session).add(CHANNEL, USER, [to_payload(request)], bot.clock.now())


def last_errors(db: Database) -> list[str]:
    with db.session() as session:
        return [e for e in session.scalars(select(OutboxRow.last_error)) if e]


def test_wechat_failure_paths_leave_no_secret(
    tmp_path: Path, clock: FrozenClock, logs: pytest.LogCaptureFixture
) -> None:
    settings = TRIAL | {"wechat_link_secret": SecretStr(LINK_SECRET)}
    with FakeWeChat(clock) as fake:
        with bot_running(fake, tmp_path / "a", clock, sweep_interval=60.0, **settings) as bot:
            person = Person(bot, USER)
            person.event("subscribe")  # the passive reply needs no API call

            def token_refresh_fails() -> None:
                # The token expired; fetching a new one fails, echoing the URL.
                fake.fail_next("custom", 40001)
                fake.echo_next("token", 500)

            failures: list[Callable[[], None]] = [
                lambda: fake.echo_next("token", 502),  # token fetch: 5xx echoing secret=
                lambda: fake.echo_next("token", 200),  # WeChat's JSON error echoing the URL
                lambda: fake.echo_next("custom", 500),  # access_token= and the link echoed
                lambda: fake.echo_next("custom", 200),
                token_refresh_fails,
            ]
            missed = 0
            for fail in failures:
                fail()
                queue_file_request(bot)
                clock.advance(seconds=60)
                # The new item waits behind the chat's earlier ones, and an earlier one may
                # still wait out its back-off (how long depends on how often the sweeper met
                # it): delivery is tried again past it. At most one injected failure may go
                # unmet; a secret anywhere fails always.
                for _attempt in range(3):
                    bot.call(bot.channel.sender.deliver(USER))
                    if fake.echoes_pending() == 0:
                        break
                    clock.advance(seconds=1800)  # past any back-off of the items before it
                missed += fake.echoes_pending() > 0
            assert missed <= 1, f"{missed} injected failures never met"
            errors = last_errors(bot.db)
            assert errors and all("<redacted>" in e or "HTTP error" in e for e in errors), errors
            # WeChat answers again: everything pending goes out, links where they belong.
            clock.advance(seconds=60)
            bot.call(bot.channel.sender.deliver(USER))
            shown = person.receive()
            links = [u for s in shown for u in PAGE_LINK.findall(s.text)]
            assert len(links) == len(failures)
            # A photo whose download fails with an echo.
            fake.echo_next("media", 200)
            person.send_image(jpeg_bytes())
            wait_until(lambda: fake.echoes_pending() == 0 or None)
            # The pages behind the links are opened (and one forged): the access log keeps
            # neither the token nor a query string.
            assert download(links[0]).status_code == 200
            forged = links[0][:-3] + "abc"
            assert download(forged + "?signature=0123456789abcdef").status_code == 403
            first_db = bot.db
            secrets = [APP_SECRET, AES_KEY, TOKEN, LINK_SECRET, *fake.access_tokens]
            secrets += [link.rsplit("/", 1)[1] for link in links]
            assert_nowhere([*secrets, *fake.signatures], logs, [first_db])

        # WeChat's API unreachable: requests names the token URL, secret= and all.
        unreachable = f"http://127.0.0.1:{closed_port()}/cgi-bin/"
        with bot_running(
            fake, tmp_path / "b", clock, wechat_api_base_url=unreachable, **settings
        ) as down:
            Person(down, USER).event("subscribe")
            queue_file_request(down)
            clock.advance(seconds=60)
            down.call(down.channel.sender.deliver(USER))
            (error,) = last_errors(down.db)
            assert error.startswith("wechat network:") and "secret=<redacted>" in error
            assert_nowhere([*secrets, *fake.signatures], logs, [down.db])
    assert "secret=<redacted>" in logs.text  # the failure was logged, without the secret


def test_telegram_failure_paths_leave_no_secret(
    tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    with FakeTelegram() as fake:
        echo = f"{fake.base_url}{fake.token}/sendMessage?secret_token={WEBHOOK_SECRET}"

        async def scenario() -> Database:
            async with telegram_running(
                fake,
                tmp_path,
                sweep_interval=0.2,
                telegram_webhook_secret=SecretStr(WEBHOOK_SECRET),
            ) as bot:
                await say(bot, "/start", TG_USER)
                # Refused for good, the reason naming the bot's URL.
                fake.fail_next("sendMessage", 1, 400, description=f"Bad Request: {echo}")
                fake.send_text(TG_USER, "天山智联")
                await asyncio.sleep(0.5)
                # A 5xx with the URL echoed, on every retry; then the network fails.
                fake.fail_next("sendMessage", _NETWORK_ATTEMPTS, 500, description=echo)
                fake.send_text(TG_USER, "继续")
                # The 5xx run's error is not always recorded by now (the item may wait out a
                # back-off first); the 400's is, and the logs are searched either way.
                wait = asyncio.to_thread(wait_until, lambda: len(last_errors(bot.db)) >= 1 or None)
                await wait
                await asyncio.sleep(3.0)
                fake.fail_network_next("sendMessage", _NETWORK_ATTEMPTS)
                await asyncio.sleep(1.0)
                return bot.db

        db = asyncio.run(scenario())
        db = Database.from_url(f"sqlite:///{tmp_path / 'nianjian.sqlite3'}")
        try:
            errors = last_errors(db)
            assert any("<token>" in e or "<redacted>" in e for e in errors), errors
            assert_nowhere([fake.token, WEBHOOK_SECRET], logs, [db])
        finally:
            db.dispose()


def test_redact_covers_what_libraries_print() -> None:
    register_secret("s3cr3t-value-XY")
    line = (
        "GET https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential"
        "&appid=wx1&secret=abcdef0123 failed; https://x/cgi-bin/message/custom/send?"
        "access_token=AT-1_2 500; s3cr3t-value-XY; /bot123456:AAE-x_y/sendMessage; "
        "https://h/wechat/upload/17.1767225600.AbCdEfGhIjKlMnOpQrStUv ok"
    )
    said = redact(line)
    for secret in ("abcdef0123", "AT-1_2", "s3cr3t-value-XY", "123456:AAE-x_y", "AbCdEfGhIj"):
        assert secret not in said
    assert "appid=wx1" in said  # an id is no secret
