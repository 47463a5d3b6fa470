"""WeChat callbacks an attacker might send: old or future timestamps, a captured signed URL
with another body, a nonce used twice (across a restart, on SQLite and PostgreSQL), another
sender's MsgId, malformed requests of every kind (each a 4xx and one log line, no traceback),
and safe mode as the default with plain mode an explicit, warned-about choice."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.app import bootstrap
from bot.channels.wechat import texts
from bot.channels.wechat.channel import WeChatChannel
from bot.channels.wechat.guard import CallbackGuard, mode_problem, plain_mode_warning
from bot.cli import main
from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from storage.nonces import forget_before
from tests.fake_wechat import ACCOUNT, AES_KEY, APP_ID, APP_SECRET, TOKEN, FakeWeChat, sign
from tests.fakes import FrozenClock
from tests.wechat_harness import Bot, Person, bot_running, wait_until, wechat_settings

ALICE = "oAlice000000000000000000001"
MALLORY = "oMallory00000000000000000002"
TRIAL: dict[str, Any] = {"trial_channels": "console,wechat"}
WELCOME = "您好！我是年检助手"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def _text(openid: str, content: str, msg_id: str) -> str:
    return (
        f"<xml><ToUserName>{ACCOUNT}</ToUserName><FromUserName>{openid}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType>"
        f"<Content>{content}</Content><MsgId>{msg_id}</MsgId></xml>"
    )


def _params(timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(5)
    return {"signature": sign(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce}


def _post(bot: Bot, params: dict[str, str], body: str) -> httpx.Response:
    return httpx.post(bot.url, params=params, content=body.encode(), timeout=10.0)


def _logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The server's lines (not the test client's) at INFO and above."""
    mine = ("bot.", "tornado", "storage.", "wechatpy")
    return [r for r in caplog.records if r.name.startswith(mine) and r.levelno >= logging.INFO]


# --- timestamps and nonces ---------------------------------------------------------------------


def test_timestamps_outside_the_window_are_refused(tmp_path: Path, clock: FrozenClock) -> None:
    with (
        FakeWeChat(clock, encrypted=False) as fake,
        bot_running(fake, tmp_path, clock, **TRIAL) as bot,
    ):
        three_years = int(time.time()) - 3 * 365 * 86400
        for stamp in (three_years, int(time.time()) - 310, int(time.time()) + 310):
            response = _post(bot, _params(stamp), _text(ALICE, "帮助", "1001"))
            assert response.status_code == 403
        # Within the window (WeChat's retries come within seconds) it is answered.
        fine = _post(bot, _params(int(time.time()) - 20), _text(ALICE, "帮助", "1002"))
        assert fine.status_code == 200 and WELCOME in fine.text
        before = len(bot.outbox(ALICE))
        assert _post(bot, _params(three_years), _text(ALICE, "继续", "1003")).status_code == 403
        assert len(bot.outbox(ALICE)) == before


def test_a_captured_signed_url_is_refused_with_any_body_even_after_a_restart(
    db_url: str, tmp_path: Path, clock: FrozenClock
) -> None:
    """Plain mode's signature covers token, timestamp and nonce only: the nonce, remembered
    in the database, is what stops a captured URL from carrying another body."""
    settings = TRIAL | {"database_url": db_url}
    params = _params()
    with FakeWeChat(clock, encrypted=False) as fake:
        with bot_running(fake, tmp_path, clock, **settings) as bot:
            first = _post(bot, params, _text(ALICE, "你好", "2001"))
            assert first.status_code == 200 and WELCOME in first.text
            # The same URL, another sender and text: refused, nobody answered.
            replay = _post(bot, params, _text(MALLORY, "你好", "2002"))
            assert replay.status_code == 403
            # Byte for byte the same request again: refused too (it would hand the answer
            # to whoever replays it).
            assert _post(bot, params, _text(ALICE, "你好", "2001")).status_code == 403
            assert bot.outbox(MALLORY) == []
        # Another process on the same database, after the restart: still refused.
        with bot_running(fake, tmp_path, clock, **settings) as again:
            assert _post(again, params, _text(MALLORY, "你好", "2003")).status_code == 403
            assert again.outbox(MALLORY) == []
            # A fresh nonce is fine.
            fresh = _post(again, _params(), _text(MALLORY, "你好", "2004"))
            assert fresh.status_code == 200 and WELCOME in fresh.text
        assert [s for s in fake.shown if s.openid == MALLORY] == []


def test_old_nonces_are_forgotten_after_the_window(tmp_path: Path, clock: FrozenClock) -> None:
    with (
        FakeWeChat(clock, encrypted=False) as fake,
        bot_running(fake, tmp_path, clock, **TRIAL) as bot,
    ):
        guard = bot.channel.guard
        real = guard.wall
        start = real()
        guard.wall = lambda: start
        stamp, nonce = str(int(start)), "abc123"
        assert guard.first_use(stamp, nonce) and not guard.first_use(stamp, nonce)
        with bot.db.session() as session:
            assert forget_before(session, "wechat", _at(start - 1)) == 0
            assert forget_before(session, "wechat", _at(start + 1)) == 1
        assert guard.first_use(stamp, nonce)  # remembered no longer: the timestamp refuses it
        assert guard.stale(stamp, nonce) is None
        guard.wall = lambda: start + 301
        assert guard.stale(stamp, nonce) is not None


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- duplicates are per sender -----------------------------------------------------------------


def test_another_senders_message_with_the_same_msgid_gets_its_own_answer(
    tmp_path: Path, clock: FrozenClock
) -> None:
    with FakeWeChat(clock) as fake, bot_running(fake, tmp_path, clock, **TRIAL) as bot:
        alice, mallory = Person(bot, ALICE), Person(bot, MALLORY)
        alice.event("subscribe")
        mallory.event("subscribe")
        msg_id = "24000000000777001"
        mine = fake.deliver(
            ALICE, {"MsgType": "text", "Content": "新疆天山智联信息技术有限公司", "MsgId": msg_id}
        )
        assert mine.passive is not None and "天山智联" in mine.passive
        theirs = fake.deliver(MALLORY, {"MsgType": "text", "Content": "帮助", "MsgId": msg_id})
        assert theirs.passive is not None and "天山智联" not in theirs.passive
        assert "天山智联" not in mallory.text()
        # Alice's own retry still gets her answer once.
        again = fake.redeliver(mine)
        assert again.status == 200 and "天山智联" in again.body
        alice.receive()
        assert [s.kind for s in fake.shown_to(ALICE)].count("custom") == 0


# --- malformed requests ------------------------------------------------------------------------


@pytest.fixture
def plain_bot(tmp_path: Path, clock: FrozenClock) -> Iterator[Bot]:
    with (
        FakeWeChat(clock, encrypted=False) as fake,
        bot_running(fake, tmp_path, clock, **TRIAL) as bot,
    ):
        yield bot


MALFORMED_BODIES = [
    "",
    "not xml at all",
    "<xml><FromUserName>oA</FromUserName>",  # cut off
    "<other><FromUserName>oA</FromUserName></other>",
    "<xml><![CDATA[",
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><xml>&a;</xml>',
    f"<xml><FromUserName>{'o' * 500}</FromUserName><MsgType>text</MsgType></xml>",
    "<xml><FromUserName>o A;drop</FromUserName><MsgType>text</MsgType></xml>",
    "\x00\xff\xfe garbage",
]


def test_every_malformed_request_is_a_4xx_with_one_log_line(
    plain_bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = plain_bot
    base = bot.url
    link = bot.channel.links
    requests: list[tuple[str, str, dict[str, str], bytes]] = [
        ("POST", base, _params(), body.encode("utf-8", "surrogatepass"))
        for body in MALFORMED_BODIES
    ]
    requests += [
        ("POST", base, _params() | {"encrypt_type": "aes"}, b"<xml/>"),  # safe on WeChat's side
        ("POST", base, {"signature": "x", "timestamp": "1", "nonce": "1"}, b"<xml/>"),
        ("POST", base, {}, b"<xml/>"),
        ("POST", base, _params(10**30), b"<xml/>"),
        ("GET", base, {"timestamp": "abc", "nonce": "1", "signature": "0"}, b""),
        ("PUT", base, _params(), b"<xml/>"),
        ("DELETE", base, _params(), b""),
        ("GET", f"{base}/file/{'9' * 45}", {}, b""),
        ("GET", f"{base}/file/{'9' * 45}.{'9' * 45}.abc", {}, b""),
        ("GET", f"{base}/upload/1.{'9' * 40}.x", {}, b""),
        ("POST", f"{base}/upload/{'1' * 19}.2.x", {}, b"x"),
        ("GET", f"{base}/view/%00%ff", {}, b""),
        ("GET", f"{base}/view/..", {}, b""),
        ("GET", f"{base}/file/", {}, b""),
        ("GET", f"{base}/nothing-here", {}, b""),
        ("PATCH", f"{base}/file/1.2.3", {}, b""),
    ]
    assert link.read("file", "9" * 45, bot.clock.now()) is None
    for method, url, params, body in requests:
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            response = httpx.request(method, url, params=params, content=body, timeout=10.0)
        assert 400 <= response.status_code < 500, (method, url, params, body, response.status_code)
        # The server writes its line just after the response went out.
        wait_until(lambda: _logged(caplog) or None, 2.0)
        time.sleep(0.05)
        lines = _logged(caplog)
        assert len(lines) == 1, (method, url, [r.getMessage() for r in lines])
        assert lines[0].exc_info is None and "Traceback" not in caplog.text
        said = lines[0].getMessage()
        assert "?" not in said and "=" not in said  # no query string
        assert len(params.get("signature", "")) < 40 or params["signature"] not in said
    assert bot.outbox("oA") == []


# --- safe mode is the default ------------------------------------------------------------------


def test_safe_mode_is_the_default_and_plain_mode_is_explicit_and_warned(
    tmp_path: Path, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeWeChat(clock, encrypted=False) as fake:
        # No key and no WECHAT_MODE: refused, saying what to do.
        settings = wechat_settings(fake, tmp_path).model_copy(update={"wechat_mode": "safe"})
        assert mode_problem(settings) == texts.SAFE_MODE_NEEDS_KEY
        app = bootstrap(settings, clock)
        try:
            with pytest.raises(ValueError, match="WECHAT_ENCODING_AES_KEY"):
                WeChatChannel(app.service, settings)
        finally:
            app.db.dispose()
        # A key together with plain mode is a contradiction.
        both = settings.model_copy(
            update={"wechat_mode": "plain", "wechat_encoding_aes_key": SecretStr(AES_KEY)}
        )
        assert mode_problem(both) == texts.PLAIN_MODE_WITH_KEY
        # Plain mode chosen explicitly: it runs, and says so at start (and for `doctor`).
        plain = settings.model_copy(update={"wechat_mode": "plain"})
        assert mode_problem(plain) is None
        assert plain_mode_warning(plain) == texts.PLAIN_MODE_WARNING
        with caplog.at_level(logging.WARNING), bot_running(fake, tmp_path, clock, **TRIAL):
            pass
        assert texts.PLAIN_MODE_WARNING in caplog.text
    safe = Settings(
        wechat_app_id=APP_ID,
        wechat_app_secret=SecretStr(APP_SECRET),
        wechat_token=SecretStr(TOKEN),
        wechat_encoding_aes_key=SecretStr(AES_KEY),
    )
    assert safe.wechat_mode == "safe"
    assert mode_problem(safe) is None and plain_mode_warning(safe) is None
    assert plain_mode_warning(Settings()) is None


def test_nianjian_run_refuses_safe_mode_without_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name, value in {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'nj.sqlite3'}",
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": APP_SECRET,
        "WECHAT_TOKEN": TOKEN,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WECHAT_ENCODING_AES_KEY", raising=False)
    monkeypatch.delenv("WECHAT_MODE", raising=False)
    monkeypatch.delenv("TELEGRAM_TOKEN", raising=False)
    assert main(["run"]) == 2
    said = capsys.readouterr()
    assert texts.SAFE_MODE_NEEDS_KEY in said.err and APP_SECRET not in said.err + said.out


def test_a_nonce_is_used_once_by_processes_racing_for_it(db_url: str) -> None:
    """Two bot processes on one database get the same captured callback at once: one
    accepts it, the other refuses it."""
    upgrade(db_url)
    databases = [Database.from_url(db_url) for _ in range(2)]
    try:
        guards = [CallbackGuard(db, timedelta(minutes=5)) for db in databases]
        stamp = str(int(time.time()))
        start = threading.Barrier(8)
        results: list[bool] = []

        def attempt(index: int) -> None:
            start.wait(10)
            results.append(guards[index % 2].first_use(stamp, "racing-nonce"))

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert sorted(results) == [False] * 7 + [True]
    finally:
        for db in databases:
            db.dispose()
