"""The reviewers' web console in real headless Chromium (Debian's chromium and chromedriver):
signing in by the link from chat, the dashboard against the database, filtering and searching
the queue, a filing with its PDF attachment in the page, a rejection with sections that arrives
in the contact's Telegram chat, an approval, two reviewers deciding one filing, a roster upload
with a bad row, and an invite's QR code read back."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import zxingcpp
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import func, select

from bot.admin import import_roster
from bot.workflow import load_filing
from dialogs.indicators import evaluate_all
from dialogs.view import View
from storage.invites import InviteRepository
from storage.models import FilingRow, InviteRow
from storage.workflow import WorkflowRepository
from tests.console_harness import (
    REVIEWER,
    Desk,
    bind,
    desk_running,
    signed_in,
    submit,
)
from tests.fake_telegram import BOT_USERNAME, FakeTelegram
from tests.fakes import (
    CODE_A,
    CODE_B,
    ENTERPRISE_A,
    ENTERPRISE_B,
    FrozenClock,
    write_roster,
)
from tests.wechat_harness import headless_chromium, wait_until

CONTACT_A, CONTACT_B = 4242, 4343
SECOND = 778  # another reviewer
NAME_A, NAME_B = ENTERPRISE_A[0], ENTERPRISE_B[0]
REASON = "项目1的软件开发费与合同不符"
# A third enterprise on the roster, never bound.
ENTERPRISE_C = ("新疆雪莲网络工程有限公司", "91650100MA77Y2QX03", "丁级", "XJSI-2021-0102", 2021)


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    with headless_chromium(1280, 900, "the console") as driver:
        driver.implicitly_wait(15)
        yield driver


@pytest.fixture
def desk(fake: FakeTelegram, tmp_path: Path) -> Iterator[Desk]:
    reviewers = f"telegram:{REVIEWER},telegram:{SECOND}"
    with desk_running(fake, tmp_path, FrozenClock(), reviewers=reviewers) as running:
        roster = write_roster(tmp_path / "r.xlsx", [ENTERPRISE_A, ENTERPRISE_B, ENTERPRISE_C])
        assert import_roster(running.app, roster).created == 3
        now = running.clock.now()
        for code, contact in ((CODE_A, CONTACT_A), (CODE_B, CONTACT_B)):
            filing_id = bind(running.app, code, "telegram", str(contact), now)
            submit(running.app, filing_id, f"telegram:{contact}", now)
        running.clock.advance(days=3)  # both wait longer than one working day
        yield running


def navigate(browser: webdriver.Chrome, element: WebElement, until_url: str = "") -> None:
    """Clicks what leads to another page and waits for it (not reading the old one): the old
    page gone, and the address containing `until_url`."""
    page = browser.find_element(By.TAG_NAME, "html")
    element.click()

    def left(_driver: object) -> bool:
        try:
            page.is_enabled()
        except WebDriverException:
            # Stale, or chromedriver's "node does not belong to the document" mid-navigation.
            return True
        return False

    WebDriverWait(browser, 30).until(left)
    WebDriverWait(browser, 30).until(lambda driver: until_url in driver.current_url)


def type_into(browser: webdriver.Chrome, box: WebElement, text: str) -> None:
    """Types `text` and checks that the box shows it, typing again if not, as a person who
    looks at the box would: the PDF viewer opened in the page's frame takes the keyboard
    focus a moment after it loads, and keys sent then go to it (the server then rightly
    refused a rejection without a reason, about one run in three)."""

    def shown(_driver: object) -> bool:
        if box.get_attribute("value") == text:
            return True
        box.clear()
        box.send_keys(text)
        return False

    WebDriverWait(browser, 10, poll_frequency=0.5).until(shown)


def filing_of(desk: Desk, name: str) -> int:
    with desk.app.db.session() as session:
        (item,) = [i for i in WorkflowRepository(session).queue() if i.enterprise_name == name]
    return item.filing_id


def test_review_at_a_desk(
    desk: Desk, browser: webdriver.Chrome, fake: FakeTelegram, tmp_path: Path
) -> None:
    # Signing in: the link from the chat, the button on its page.
    browser.get(desk.sign_in_link())
    navigate(browser, browser.find_element(By.ID, "sign-in"), "/console/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "2025 年度年检概览"

    _dashboard(desk, browser)
    _filter_and_search(desk, browser)
    _filing_page(browser)
    _attachments_in_the_page(browser)
    _reject(browser, fake)
    _approve_and_a_second_reviewer(desk, browser, fake)
    _roster_upload(desk, browser, tmp_path)
    _invite_qr(desk, browser)


def _dashboard(desk: Desk, browser: webdriver.Chrome) -> None:
    # The dashboard's figures are the database's.
    with desk.app.db.session() as session:
        submitted = session.scalar(
            select(func.count()).select_from(FilingRow).where(FilingRow.status == "submitted")
        )
    assert submitted == 2
    assert browser.find_element(By.CSS_SELECTOR, "#tile-submitted .n").text == "2"
    assert browser.find_element(By.CSS_SELECTOR, "#tile-overdue .n").text == "2"
    chart = browser.find_element(By.CSS_SELECTOR, "svg.chart").text
    assert "未绑定\n1" in chart and "待审核\n2" in chart
    # Indicator verdicts by grade, as the indicators of each submitted filing say.
    expected = []
    with desk.app.db.session() as session:
        for item in WorkflowRepository(session).queue():
            view = View(desk.app.form, load_filing(session, item.filing_id))
            for result in evaluate_all(view):
                if result.met is not None:
                    verdict = f"达到 {int(result.met)} · 低于 {int(not result.met)}"
                    expected.append(f"{item.grade}级 · {result.spec.label} {verdict}")
    shown = browser.find_element(By.ID, "indicator-verdicts").text.splitlines()
    assert sorted(shown) == sorted(expected) and len(expected) >= 4
    # A figure leads to the list behind it.
    navigate(browser, browser.find_element(By.ID, "tile-overdue"), "wait=overdue")
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.filing")]
    assert sorted(names) == sorted([NAME_A, NAME_B])


def _filter_and_search(desk: Desk, browser: webdriver.Chrome) -> None:
    # Filter by grade, search by credit code.
    Select(browser.find_element(By.NAME, "grade")).select_by_value("丙")
    navigate(browser, browser.find_element(By.CSS_SELECTOR, ".filters button"), "grade=")
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.filing")] == [NAME_B]
    browser.get(f"{desk.origin}/console/queue?q={CODE_A.lower()}")
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.filing")] == [NAME_A]


def _filing_page(browser: webdriver.Chrome) -> None:
    # The filing: sections as on the form, totals and indicators, attachments in the page.
    navigate(browser, browser.find_element(By.CSS_SELECTOR, "a.filing"), "/filing/")
    assert browser.find_element(By.TAG_NAME, "h1").text == f"{NAME_A} · 第 1 版"
    projects = browser.find_element(By.ID, "section-projects").text
    assert "12 个项目" in projects and "3,532.00" in projects
    assert "达到" in browser.find_element(By.ID, "indicators").text


def _attachments_in_the_page(browser: webdriver.Chrome) -> None:
    files = browser.find_elements(By.CSS_SELECTOR, "ol.files a.file")
    cookie = browser.get_cookie("nj_console")
    assert cookie is not None and cookie["httpOnly"] and cookie["secure"]
    frame = browser.find_element(By.ID, "viewer")
    for wanted in ("image/png", "application/pdf"):
        link = next(a for a in files if _served_as(a, cookie["value"]) == wanted)
        link.click()
        href = str(link.get_attribute("href"))

        def shown_type(href: str = href) -> str | None:
            script = (
                "var w = arguments[0].contentWindow; return w.location.href === arguments[1]"
                " ? w.document.contentType : null"
            )
            found = browser.execute_script(script, frame, href)
            return None if found is None else str(found)

        shown = wait_until(shown_type)
        assert shown == wanted
    pdf = httpx.get(
        str(link.get_attribute("href")), headers={"Cookie": f"nj_console={cookie['value']}"}
    )
    name = link.text.split("：", 1)[1]
    assert pdf.headers["content-disposition"] == f"inline; filename*=UTF-8''{quote(name)}"
    assert pdf.content.startswith(b"%PDF-")


def _reject(browser: webdriver.Chrome, fake: FakeTelegram) -> None:
    # Rejection with a reason and a section: the contact hears of it in Telegram at once.
    before = len(fake.messages_to(CONTACT_A))
    browser.find_element(By.ID, "reject-open").click()
    type_into(browser, browser.find_element(By.ID, "reason"), REASON)
    section = browser.find_element(By.CSS_SELECTOR, "input[name=section][value=projects]")
    section.click()
    assert section.is_selected()
    navigate(browser, browser.find_element(By.ID, "reject"), "done=rejected")
    notice = browser.find_element(By.ID, "notice").text
    assert notice == f"已驳回 {NAME_A} 第 1 版，原因和需要修改的部分已通知企业联系人。"
    assert browser.find_element(By.ID, "status").text == "已驳回"
    message = fake.wait_for_messages(CONTACT_A, before + 1, 10)[before]
    assert f"❗ 第 1 版审核未通过。原因：{REASON}" in (message.body or "")
    assert "需要修改：3 系统集成项目汇总。" in (message.body or "")
    history = browser.find_element(By.ID, "history").text
    assert "驳回第 1 版" in history and "Telegram 777（网页后台）" in history


def _approve_and_a_second_reviewer(
    desk: Desk, browser: webdriver.Chrome, fake: FakeTelegram
) -> None:
    # Approval of the other filing; a second reviewer acting on it too learns who decided.
    filing_b = filing_of(desk, NAME_B)
    browser.get(f"{desk.origin}/console/filing/{filing_b}")
    second = signed_in(desk, SECOND)  # another reviewer, with the page open as well
    before = len(fake.messages_to(CONTACT_B))
    navigate(browser, browser.find_element(By.ID, "approve"), "done=approved")
    assert browser.find_element(By.ID, "notice").text.startswith(f"已通过 {NAME_B} 第 1 版")
    document = fake.wait_for_messages(CONTACT_B, before + 1, 10)[before]
    assert (
        document.method == "sendDocument" and document.filename == f"{NAME_B}-年检申报表-第1版.pdf"
    )
    token = second.csrf(f"/console/filing/{filing_b}")
    late = second.post(f"/console/filing/{filing_b}/decide", {"action": "approve", "_csrf": token})
    assert late.status_code == 303 and late.headers["location"].endswith("done=conflict")
    shown = second.get(late.headers["location"]).text
    assert (
        "这份申报已由 Telegram 777（网页后台）于 2025-12-04 10:00 审核通过，未重复处理。" in shown
    )
    with desk.app.db.session() as session:
        moves = WorkflowRepository(session).history(filing_b)
    assert [m.to_status for m in moves] == ["submitted", "approved"]


def _roster_upload(desk: Desk, browser: webdriver.Chrome, tmp_path: Path) -> None:
    # Roster upload with a bad row: the CLI's per-row report, the good row imported.
    bad = tmp_path / "名单.xlsx"
    write_roster(
        bad,
        [
            ("新疆昆仑软件有限公司", "91650100MA77Y2QX16", "乙级", "XJSI-2025-0200", 2025),
            ("校验位错误的公司", "91650100MA77Y2QX2X", "乙级", "XJSI-2025-0201", 2025),
        ],
    )
    browser.get(f"{desk.origin}/console/enterprises")
    browser.find_element(By.ID, "roster-file").send_keys(str(bad))
    navigate(browser, browser.find_element(By.ID, "roster-upload"), "/roster")
    report = browser.find_element(By.ID, "roster-report").text
    assert "导入完成：新增 1 家，更新 0 家。" in report and "以下 1 行有问题" in report
    assert "第 3 行「统一社会信用代码」" in report


def _invite_qr(desk: Desk, browser: webdriver.Chrome) -> None:
    # An invite with a printable QR code that a phone reads as the Telegram deep link.
    row = next(
        r for r in browser.find_elements(By.CSS_SELECTOR, "table.list tbody tr") if NAME_B in r.text
    )
    navigate(browser, row.find_element(By.CSS_SELECTOR, "button"), "/invite/")
    code = browser.find_element(By.ID, "invite-code").text
    png = browser.find_element(By.ID, "qr").screenshot_as_png
    (read,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert read.text == f"https://t.me/{BOT_USERNAME}?start={code}"
    with desk.app.db.session() as session:
        info = InviteRepository(session).peek(code, desk.clock.now())
        assert info is not None
        assert session.scalar(select(func.count()).select_from(InviteRow)) == 1


def _served_as(link: Any, cookie: str) -> str:
    answer = httpx.get(link.get_attribute("href"), headers={"Cookie": f"nj_console={cookie}"})
    return str(answer.headers["content-type"])
