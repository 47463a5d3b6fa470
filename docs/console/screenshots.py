"""Screenshots of the reviewers' web console for the documentation, from a seeded database, so
that they follow the code: the dashboard, the queue and a filing page at 1280 px and 390 px
wide, taken by Debian's headless chromium.

    PYTHONPATH=. .venv/bin/python docs/console/screenshots.py [--out docs/console]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from sqlalchemy import text

from bench.console import NOW, REVIEWER, Served, _Clock, seed
from bot.app import bootstrap
from bot.settings import Settings
from storage.console import ConsoleAuth
from storage.migrate import upgrade
from storage.workflow import WorkflowRepository

PLACES = (
    "乌鲁木齐",
    "克拉玛依",
    "昌吉",
    "石河子",
    "哈密",
    "伊犁",
    "库尔勒",
    "喀什",
    "阿克苏",
    "吐鲁番",
)
WORDS = (
    "天山",
    "丝路",
    "雪莲",
    "昆仑",
    "胡杨",
    "金桥",
    "博达",
    "中亚",
    "西域",
    "瀚海",
    "星辰",
    "新天",
)
KINDS = ("信息技术", "网络科技", "数据科技", "智能系统", "软件", "信息工程")
WIDTHS = (1280, 390)
ENTERPRISES = 120


def name(n: int) -> str:
    place, word, kind = PLACES[n % 10], WORDS[(n * 7) % 12], KINDS[(n * 5) % 6]
    return f"{place}{word}{kind}有限公司" if n < 120 else f"{place}{word}{kind}{n}有限公司"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args(argv)
    browser_path, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser_path and driver_path):
        print("chromium and chromium-driver (Debian packages) are needed", file=sys.stderr)
        return 2
    with TemporaryDirectory() as work:
        url = f"sqlite:///{Path(work) / 'season.sqlite3'}"
        upgrade(url)
        settings = Settings(
            database_url=url,
            attachments_dir=Path(work) / "files",
            reviewers=f"{REVIEWER[0]}:{REVIEWER[1]}",
            trial_channels="console",
            telegram_bot_username="nianjian_bot",
        )
        app = bootstrap(settings, _Clock())
        seed(app, ENTERPRISES, name)
        with app.db.session() as session:
            session.execute(text("ANALYZE"))
            filing_id = WorkflowRepository(session).queue()[0].filing_id
            token = ConsoleAuth(session).issue_link(*REVIEWER, NOW, timedelta(minutes=10))
        options = webdriver.ChromeOptions()
        options.binary_location = browser_path
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
            options.add_argument(argument)
        options.add_argument("--hide-scrollbars")
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
        try:
            with Served(app) as served:
                origin = served.replace("127.0.0.1", "localhost")  # Secure cookies over http
                driver.get(f"{origin}/console/login/{token}")
                driver.find_element("id", "sign-in").click()
                # The dashboard's per-filing facts, prepared in the background at start.
                while any(t.name == "console-warm" for t in threading.enumerate()):
                    time.sleep(0.1)
                pages = {
                    "dashboard": f"{origin}/console/",
                    "queue": f"{origin}/console/queue?status=all",
                    "filing": f"{origin}/console/filing/{filing_id}",
                }
                for width in WIDTHS:
                    for page, address in pages.items():
                        shoot(driver, address, width, args.out / f"{page}-{width}.png")
        finally:
            driver.quit()
            app.db.dispose()
    return 0


def shoot(driver: webdriver.Chrome, address: str, width: int, out: Path) -> None:
    driver.set_window_size(width, 900)
    driver.get(address)
    if "/filing/" in address:
        # The filing page with its declaration form open in the viewer.
        driver.find_element("id", "declaration").click()
        time.sleep(6.0)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(width, min(max(height, 700), 2600))
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)
    driver.save_screenshot(str(out))
    print(out)


if __name__ == "__main__":
    sys.exit(main())
