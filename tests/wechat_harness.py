"""The WeChat channel under test: the real WeChatChannel (tornado, wechatpy, the service, a
migrated SQLite database) on an event loop of its own thread, talking to tests/fake_wechat.py.
Tests are plain synchronous code: the fake posts callbacks and blocks for the answer, as WeChat
does. Shared by tests/test_wechat*.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import SecretStr
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from sqlalchemy import event, select

from bot.app import bootstrap
from bot.channels.wechat.channel import WeChatChannel
from bot.channels.wechat.delivery import CHANNEL
from bot.service import ChatService
from bot.settings import Settings
from storage.db import Database
from storage.messaging import PENDING
from storage.migrate import upgrade
from storage.models import OutboxRow
from tests.fake_wechat import AES_KEY, APP_ID, APP_SECRET, TEMPLATE_ID, TOKEN, FakeWeChat, Shown
from tests.fakes import FrozenClock

T = TypeVar("T")
TIMEOUT = 20.0
MENU_LINK = re.compile(r'<a href="weixin://bizmsgmenu\?msgmenucontent=([^&"]*)&msgmenuid=(\d+)">')
PAGE_LINK = re.compile(r'<a href="(http[^"]+)">')


def wechat_settings(fake: FakeWeChat, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'nianjian.sqlite3'}",
        "attachments_dir": tmp_path / "files",
        "wechat_app_id": APP_ID,
        "wechat_app_secret": SecretStr(APP_SECRET),
        "wechat_token": SecretStr(TOKEN),
        "wechat_encoding_aes_key": SecretStr(AES_KEY) if fake.encrypted else None,
        "wechat_mode": "safe" if fake.encrypted else "plain",
        "wechat_host": "127.0.0.1",
        "wechat_port": 0,
        "wechat_api_base_url": fake.base_url,
        "wechat_template_id": TEMPLATE_ID,
        "trial_channels": "console",  # a WeChat chat binds to an enterprise first
    }
    return Settings(**(values | overrides))


class SlowDatabase:
    """Every transaction starts `seconds` late while switched on: a database that answers
    slowly (an overloaded server, a lock held elsewhere), for the five-second rule."""

    def __init__(self, db: Database, seconds: float) -> None:
        self.seconds = seconds
        self.on = threading.Event()
        event.listen(db.engine, "begin", self._begin)

    def _begin(self, _connection: Any) -> None:
        if self.on.is_set():
            time.sleep(self.seconds)


@dataclass
class Bot:
    fake: FakeWeChat
    channel: WeChatChannel
    loop: asyncio.AbstractEventLoop
    clock: FrozenClock
    settings: Settings

    @property
    def service(self) -> ChatService:
        return self.channel.service

    @property
    def db(self) -> Database:
        return self.channel.service.db

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.channel.port}{self.channel.path}"

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT)

    def pending(self, openid: str) -> list[OutboxRow]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(OutboxRow).where(
                        OutboxRow.channel == CHANNEL,
                        OutboxRow.chat_id == openid,
                        OutboxRow.status == PENDING,
                    )
                )
            )

    def settled(self, openid: str, timeout: float = TIMEOUT) -> None:
        """Waits until nothing is left to deliver to this user."""
        wait_until(lambda: not self.pending(openid) or None, timeout)

    def outbox(self, openid: str) -> list[OutboxRow]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(OutboxRow)
                    .where(OutboxRow.channel == CHANNEL, OutboxRow.chat_id == openid)
                    .order_by(OutboxRow.id)
                )
            )


@contextlib.contextmanager
def bot_running(
    fake: FakeWeChat,
    tmp_path: Path,
    clock: FrozenClock | None = None,
    *,
    sweep_interval: float = 0.2,
    reminders: bool = False,
    **overrides: Any,
) -> Iterator[Bot]:
    settings = wechat_settings(fake, tmp_path, **overrides)
    upgrade(settings.database_url)
    clock = clock or FrozenClock()
    fake.clock = clock
    app = bootstrap(settings, clock)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def build() -> WeChatChannel:
        runner = app.reminder_runner() if reminders else None
        channel = WeChatChannel(
            app.service, settings, sweep_interval=sweep_interval, reminders=runner
        )
        await channel.start()
        return channel

    channel = asyncio.run_coroutine_threadsafe(build(), loop).result(TIMEOUT)
    bot = Bot(fake, channel, loop, clock, settings)
    fake.callback_url = bot.url
    try:
        yield bot
    finally:
        asyncio.run_coroutine_threadsafe(channel.stop(), loop).result(TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
        loop.close()
        app.db.dispose()


def wait_until(ready: Callable[[], T | None], timeout: float = TIMEOUT) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = ready()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.02)


@dataclass
class Person:
    """A WeChat user of the Official Account; `seen` counts the messages already read."""

    bot: Bot
    openid: str
    seen: int = 0
    tapped: list[str] = field(default_factory=list)

    @property
    def fake(self) -> FakeWeChat:
        return self.bot.fake

    def receive(self) -> list[Shown]:
        """Everything shown to this user since last time, once nothing is left to deliver."""
        self.bot.settled(self.openid)
        shown = self.fake.shown_to(self.openid)
        new, self.seen = shown[self.seen :], len(shown)
        return new

    def text(self) -> str:
        return "\n\n".join(s.text for s in self.receive())

    def send(self, text: str) -> str:
        delivery = self.fake.send_text(self.openid, text)
        assert delivery.answered, delivery.attempts
        return self.text()

    def send_image(self, data: bytes) -> str:
        assert self.fake.send_image(self.openid, data).answered
        return self.text()

    def event(self, name: str, key: str = "") -> str:
        assert self.fake.send_event(self.openid, name, key).answered
        return self.text()

    def tap(self, label: str) -> str:
        """Taps the option whose label contains `label` on the newest message with options."""
        content, menu_id = self.option(label)
        self.tapped.append(content)
        delivery = self.fake.send_text(self.openid, content, menu_id=menu_id)
        assert delivery.answered, delivery.attempts
        return self.text()

    def option(self, label: str) -> tuple[str, str]:
        # A long list of options is split over several messages: those of the newest prompt.
        links: list[tuple[str, str]] = []
        for shown in reversed(self.fake.shown_to(self.openid)):
            found = MENU_LINK.findall(shown.text)
            if links and (not found or int(found[0][1]) // 1000 != int(links[0][1]) // 1000):
                break
            links = found + links
        assert links, "no message with options"
        matching = [(c, i) for c, i in links if label in c]
        assert matching, f"no option {label!r} in {[c for c, _ in links]}"
        return matching[0]

    def page_links(self) -> list[str]:
        return [u for s in self.fake.shown_to(self.openid) for u in PAGE_LINK.findall(s.text)]


def download(url: str) -> httpx.Response:
    return httpx.get(url, timeout=TIMEOUT)


def chromium_paths() -> tuple[str, str] | None:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@contextlib.contextmanager
def headless_chromium(width: int, height: int, needed_for: str) -> Iterator[webdriver.Chrome]:
    """Debian's chromium, headless, at the given window size; never a downloaded browser.
    Without it the test skips locally and fails on CI."""
    paths = chromium_paths()
    if paths is None:
        message = f"chromium and chromium-driver (Debian packages) are needed for {needed_for}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(options=options, service=Service(paths[1]))
    try:
        yield driver
    finally:
        driver.quit()
