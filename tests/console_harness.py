"""The reviewers' web console under test: the process as `nianjian run` builds it (the real
Telegram channel against the fake Bot API, the one web server with the console's routes) on an
event loop of its own thread, so that plain synchronous tests (httpx, selenium) talk to it.
Also the seeding shared by the console's tests, the benchmark and the screenshot script."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Coroutine, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bot.app import App, bootstrap
from bot.channels.telegram.adapter import TelegramChannel
from bot.channels.wechat.api import WeChatApi
from bot.console_web import add_console, console_started
from bot.settings import Settings
from bot.web import WebServer
from bot.workflow import load_filing
from storage.enterprises import EnterpriseRepository
from storage.members import MemberRepository
from storage.migrate import upgrade
from storage.workflow import WorkflowRepository, snapshot_of
from tests.fake_telegram import FakeTelegram
from tests.fakes import FrozenClock, fill_like_the_script
from tests.test_telegram import settings_for

T = TypeVar("T")
TIMEOUT = 20.0
REVIEWER = 777
LINK = re.compile(r"(http://\S+/console/login/[A-Za-z0-9_-]+)")


@dataclass
class Desk:
    fake: FakeTelegram
    app: App
    channel: TelegramChannel
    web: WebServer
    loop: asyncio.AbstractEventLoop
    clock: FrozenClock

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.web.port}"

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT)

    def ask_link(self, user: int = REVIEWER, text: str = "后台") -> str:
        """What the bot answers `user` asking for the console in chat."""
        before = len(self.fake.messages_to(user))
        self.fake.send_text(user, text)
        sent = self.fake.wait_for_messages(user, before + 1, TIMEOUT)
        return sent[before].body or ""

    def sign_in_link(self, user: int = REVIEWER) -> str:
        found = LINK.search(self.ask_link(user))
        assert found is not None
        return found.group(1)


def desk_settings(fake: FakeTelegram, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "reviewers": f"telegram:{REVIEWER}",
        "trial_channels": "console",
        # Browsers keep Secure cookies over plain http only for localhost.
        "web_host": "localhost",
        "web_port": 0,
    }
    return settings_for(fake, tmp_path, **(values | overrides))


@contextlib.contextmanager
def desk_running(
    fake: FakeTelegram,
    tmp_path: Path,
    clock: FrozenClock | None = None,
    *,
    wechat: WeChatApi | None = None,
    **overrides: Any,
) -> Iterator[Desk]:
    settings = desk_settings(fake, tmp_path, **overrides)
    upgrade(settings.database_url)
    clock = clock or FrozenClock()
    app = bootstrap(settings, clock)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def build() -> tuple[TelegramChannel, WebServer]:
        # As bot/cli.py's _serve does it.
        web = WebServer(settings.web_host, settings.web_port, 30 * 1024 * 1024)
        channel = TelegramChannel(app.service, settings, sweep_interval=0.2)
        console = add_console(app, web, [channel.deliver_now], wechat)
        console_started(console, await web.start())
        await channel.start()
        return channel, web

    channel, web = asyncio.run_coroutine_threadsafe(build(), loop).result(TIMEOUT)
    desk = Desk(fake, app, channel, web, loop, clock)
    try:
        yield desk
    finally:
        desk.call(channel.stop())
        desk.call(web.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
        loop.close()
        app.db.dispose()


# --- a browser over plain HTTP ---


def sign_in(desk: Desk, link: str) -> httpx.Response:
    """Opens the link (a page with a button, which chat link previews may fetch harmlessly)
    and presses the button."""
    page = httpx.get(link)
    assert page.status_code == 200 and "进入审核后台" in page.text
    return httpx.post(link, follow_redirects=False)


def cookie_of(response: httpx.Response) -> str:
    header = response.headers["set-cookie"]
    found = re.match(r"nj_console=([^;]+);", header)
    assert found is not None, header
    return found.group(1)


class Browser:
    """A signed-in client: the cookie sent by hand (httpx keeps Secure cookies off http)."""

    def __init__(self, desk: Desk, cookie: str) -> None:
        self.desk = desk
        self.headers = {"Cookie": f"nj_console={cookie}"}

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.desk.origin + path, headers=self.headers)

    def post(self, path: str, data: Mapping[str, str]) -> httpx.Response:
        return httpx.post(
            self.desk.origin + path, data=data, headers=self.headers, follow_redirects=False
        )

    def csrf(self, path: str = "/console/") -> str:
        found = re.search(r'name="_csrf" value="([^"]+)"', self.get(path).text)
        assert found is not None
        return found.group(1)


def signed_in(desk: Desk, user: int = REVIEWER) -> Browser:
    answer = sign_in(desk, desk.sign_in_link(user))
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"
    return Browser(desk, cookie_of(answer))


# --- seeding --------------------------------------------------------------------------------


def bind(app: App, credit_code: str, channel: str, chat_id: str, now: datetime) -> int:
    """Binds a chat to the roster's enterprise (as an invite would); returns its filing."""
    with app.db.session() as session:
        enterprises = EnterpriseRepository(session)
        enterprise = enterprises.by_credit_code(credit_code)
        assert enterprise is not None
        MemberRepository(session).bind(
            channel, chat_id, enterprise.id, "invite", now, full_name="李娜", mobile="13991234567"
        )
        return enterprises.filing_for(enterprise.id, app.form.cycle.year, now)


def submit(app: App, filing_id: int, by: str, now: datetime) -> int:
    """The scripted filing, complete with its files, submitted (as the contact's 确认提交)."""
    fill_like_the_script(app.db, filing_id, now, files=app.service.files)
    with app.db.session() as session:
        filing = load_filing(session, filing_id)
        return WorkflowRepository(session).submit(
            filing_id, snapshot_of(filing), by, by.split(":", maxsplit=1)[0], now
        )
