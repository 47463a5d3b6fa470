"""The reviewers' web console over plain HTTP: sign-in by the link a reviewer gets in chat, the
session cookie, CSRF, and every way in that must be refused (logged), on the process's one web
server beside the running Telegram channel."""

from __future__ import annotations

import base64
import io
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import zxingcpp
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import func, select

from bot.admin import import_roster
from bot.channels.wechat.api import WeChatApi
from bot.privacy import mask_personal
from bot.workflow import load_filing
from dialogs.model import Key, SetAnswer
from storage.enterprises import EnterpriseRepository
from storage.migrate import upgrade
from storage.models import ConsoleLinkRow
from storage.repository import FilingRepository
from storage.requests import RequestRepository
from storage.reviewers import ReviewerRepository
from storage.workflow import WorkflowRepository
from tests.console_harness import (
    REVIEWER,
    Browser,
    Desk,
    bind,
    cookie_of,
    desk_running,
    sign_in,
    signed_in,
    submit,
)
from tests.fake_telegram import FakeTelegram
from tests.fake_wechat import APP_ID, APP_SECRET, FakeWeChat
from tests.fakes import CODE_A, ENTERPRISE_A, FrozenClock, pdf_text, write_roster

CONTACT = 4242
OTHER = 888


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def desk(fake: FakeTelegram, tmp_path: Path) -> Iterator[Desk]:
    with desk_running(fake, tmp_path, FrozenClock()) as running:
        report = import_roster(running.app, write_roster(tmp_path / "r.xlsx", [ENTERPRISE_A]))
        assert report.created == 1
        yield running


def test_a_reviewer_signs_in_with_the_link_from_chat(desk: Desk) -> None:
    text = desk.ask_link()
    assert text.startswith("🖥 审核后台登录链接（10 分钟内有效，只能使用一次，请勿转发）")
    link = re.search(r"http://\S+", text)
    assert link is not None and link.group(0).startswith(f"{desk.origin}/console/login/")
    answer = sign_in(desk, link.group(0))
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/console"):
        assert attribute in cookie
    page = Browser(desk, cookie_of(answer)).get("/console/")
    assert page.status_code == 200 and "2025 年度年检概览" in page.text
    assert (
        "Content-Security-Policy" in page.headers
        and "default-src 'self'" in (page.headers["Content-Security-Policy"])
    )
    # The same words in the chat's other spellings.
    assert "审核后台登录链接" in desk.ask_link(text="/console")


def test_refused_without_a_session_or_with_a_bad_link(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for path in ("/console/", "/console/queue", "/console/filing/1", "/console/export/2025.xlsx"):
        answer = httpx.get(desk.origin + path)
        assert answer.status_code == 401 and "请先登录" in answer.text, path
    forged = httpx.post(f"{desk.origin}/console/login/{'A' * 43}")
    assert forged.status_code == 403 and "这个登录链接无效" in forged.text
    assert "no valid session (no cookie)" in caplog.text
    assert "sign-in link refused (unknown)" in caplog.text

    link = desk.sign_in_link()
    assert sign_in(desk, link).status_code == 303
    reused = httpx.post(link)
    assert reused.status_code == 403 and "已经用过了" in reused.text
    assert "sign-in link refused (used)" in caplog.text

    late = desk.sign_in_link()
    desk.clock.advance(minutes=11)
    expired = httpx.post(late)
    assert expired.status_code == 403 and "已过期" in expired.text
    assert "sign-in link refused (expired)" in caplog.text


def test_a_contact_gets_no_link(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    bind(desk.app, CODE_A, "telegram", str(CONTACT), desk.clock.now())
    assert desk.ask_link(CONTACT).startswith("审核后台只对协会审核员开放")
    # A stranger too.
    assert desk.ask_link(999).startswith("审核后台只对协会审核员开放")
    with desk.app.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ConsoleLinkRow)) == 0
    assert f"console sign-in link refused to telegram:{CONTACT}" in caplog.text


def test_every_form_needs_the_csrf_token(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    now = desk.clock.now()
    filing_id = bind(desk.app, CODE_A, "telegram", str(CONTACT), now)
    submit(desk.app, filing_id, f"telegram:{CONTACT}", now)
    browser = signed_in(desk)
    for data in ({"action": "approve"}, {"action": "approve", "_csrf": "forged"}):
        refused = browser.post(f"/console/filing/{filing_id}/decide", data)
        assert refused.status_code == 403 and "缺少安全校验码" in refused.text
    with desk.app.db.session() as session:
        assert WorkflowRepository(session).status(filing_id) == ("submitted", 1)
    assert "CSRF token missing" in caplog.text and "CSRF token wrong" in caplog.text
    refused = browser.post("/console/reviewers", {"action": "add", "who": "telegram:1"})
    assert refused.status_code == 403
    # With it, the decision goes through.
    token = browser.csrf(f"/console/filing/{filing_id}")
    done = browser.post(
        f"/console/filing/{filing_id}/decide", {"action": "approve", "_csrf": token}
    )
    assert done.status_code == 303 and done.headers["location"].endswith("done=approved")
    with desk.app.db.session() as session:
        assert WorkflowRepository(session).status(filing_id) == ("approved", 1)
        (move,) = [m for m in WorkflowRepository(session).history(filing_id) if m.version == 1][-1:]
        assert (move.actor, move.channel) == (f"web:telegram:{REVIEWER}", "web")


def test_sessions_end_on_sign_out_expiry_and_removal(desk: Desk) -> None:
    browser = signed_in(desk)
    assert browser.get("/console/queue").status_code == 200
    out = browser.post("/console/logout", {"_csrf": browser.csrf()})
    assert out.status_code == 200 and "已退出" in out.text
    assert browser.get("/console/queue").status_code == 401

    browser = signed_in(desk)
    desk.clock.advance(hours=12, seconds=1)
    assert browser.get("/console/").status_code == 401

    # A reviewer added in the console signs in; once removed, their cookie opens nothing.
    admin = signed_in(desk)
    added = admin.post(
        "/console/reviewers", {"action": "add", "who": f"telegram:{OTHER}", "_csrf": admin.csrf()}
    )
    assert "已添加审核员 telegram:888" in added.text
    other = signed_in(desk, OTHER)
    assert other.get("/console/").status_code == 200
    removed = admin.post(
        "/console/reviewers",
        {"action": "remove", "who": f"telegram:{OTHER}", "_csrf": admin.csrf()},
    )
    assert "已移除审核员 telegram:888" in removed.text
    assert other.get("/console/").status_code == 401
    with desk.app.db.session() as session:
        assert not ReviewerRepository(session).is_reviewer("telegram", str(OTHER), ())
    # Removed elsewhere (another process, the chat): refused at its next request.
    with desk.app.db.session() as session:
        ReviewerRepository(session).add("telegram", str(OTHER), "test", desk.clock.now())
    other = signed_in(desk, OTHER)
    assert other.get("/console/").status_code == 200
    with desk.app.db.session() as session:
        ReviewerRepository(session).remove("telegram", str(OTHER))
    assert other.get("/console/").status_code == 401


def test_nianjian_run_serves_the_console(tmp_path: Path) -> None:
    """The CLI as an operator starts it: the console is on the process's web server and the
    chat's 后台 links to it; SIGTERM stops it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = f"sqlite:///{tmp_path / 'run.sqlite3'}"
    upgrade(database)
    with FakeTelegram() as telegram:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NIANJIAN_", "WE"))}
        env |= {
            "DATABASE_URL": database,
            "NIANJIAN_ATTACHMENTS_DIR": str(tmp_path / "files"),
            "NIANJIAN_REVIEWERS": f"telegram:{REVIEWER}",
            "NIANJIAN_CONSOLE_LINK_MINUTES": "5",
            "TELEGRAM_TOKEN": telegram.token,
            "TELEGRAM_BASE_URL": telegram.base_url,
            "TELEGRAM_BASE_FILE_URL": telegram.base_file_url,
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(port),
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            telegram.send_text(REVIEWER, "后台")
            # A whole process starting on a busy machine: give it time.
            (reply,) = telegram.wait_for_messages(REVIEWER, 1, timeout=60)
            assert "（5 分钟内有效" in (reply.body or "")
            link = re.search(r"http://\S+", reply.body or "")
            assert link is not None
            assert link.group(0).startswith(f"http://127.0.0.1:{port}/console/login/")
            assert "进入审核后台" in httpx.get(link.group(0)).text
            assert httpx.get(f"http://127.0.0.1:{port}/console/").status_code == 401
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=20)
        assert process.returncode == 0, output


def test_an_invite_carries_a_wechat_parametric_qr_code_where_wechat_is_configured(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    with FakeWeChat(FrozenClock()) as wechat:
        api = WeChatApi(APP_ID, APP_SECRET, wechat.base_url)
        with desk_running(fake, tmp_path, FrozenClock(), wechat=api) as desk:
            import_roster(desk.app, write_roster(tmp_path / "r.xlsx", [ENTERPRISE_A]))
            browser = signed_in(desk)
            page = browser.post("/console/invite/1", {"_csrf": browser.csrf()}).text
    assert "用微信扫描二维码关注公众号即可绑定" in page
    code = re.search(r'id="invite-code">([A-Z0-9]{8})<', page)
    image = re.search(r'id="qr" src="data:image/png;base64,([^"]+)"', page)
    assert code is not None and image is not None
    (read,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(image.group(1)))))
    # Scanning it follows the Official Account with the invite code as the scene.
    assert wechat.qr_scenes[read.text] == code.group(1)


def test_documents_changes_and_requests(desk: Desk, fake: FakeTelegram, tmp_path: Path) -> None:
    now = desk.clock.now()
    filing_id = bind(desk.app, CODE_A, "telegram", str(CONTACT), now)
    submit(desk.app, filing_id, f"telegram:{CONTACT}", now)
    browser = signed_in(desk)

    # Every file as one ZIP, the declaration PDF, the year's export.
    archive = zipfile.ZipFile(
        io.BytesIO(browser.get(f"/console/filing/{filing_id}/files.zip").content)
    )
    assert len(archive.namelist()) == 15 and archive.namelist()[0].startswith("01-")
    pdf = browser.get(f"/console/filing/{filing_id}/declaration.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert ENTERPRISE_A[0] in pdf_text(pdf.content, tmp_path)
    book = load_workbook(io.BytesIO(browser.get("/console/export/2025.xlsx").content))
    status = book["申报状态"]
    assert status.cell(3, 2).value == ENTERPRISE_A[0]
    csv = zipfile.ZipFile(io.BytesIO(browser.get("/console/export/2025.zip").content))
    assert "status.csv" in csv.namelist()
    assert "还没有企业的申报" in browser.get("/console/export/2024.xlsx").text

    # Rejected in the console, fixed and sent again by the contact: the change is shown.
    token = browser.csrf(f"/console/filing/{filing_id}")
    browser.post(
        f"/console/filing/{filing_id}/decide",
        {"action": "reject", "reason": "软件开发费有误", "section": "projects", "_csrf": token},
    )
    with desk.app.db.session() as session:
        filing = load_filing(session, filing_id)
        record = filing.record_ids("projects")[0]
        key = Key("project.fee_software", record)
        FilingRepository(session).apply(
            filing_id, [SetAnswer(key, Decimal("100"), filing.get(key))], actor="c", now=now
        )
    submit(desk.app, filing_id, f"telegram:{CONTACT}", now)
    page = browser.get(f"/console/filing/{filing_id}").text
    assert "与上次驳回版本相比的修改" in page and "120.50 万元 → 100.00 万元" in page
    assert "软件开发费有误（3 系统集成项目汇总）" in page
    # A page still showing version 1 decides nothing about version 2.
    stale = browser.post(
        f"/console/filing/{filing_id}/decide",
        {"action": "approve", "version": "1", "_csrf": browser.csrf()},
    )
    assert stale.headers["location"].endswith("done=newer")
    assert "企业已提交了新的版本，未审核" in browser.get(stale.headers["location"]).text
    with desk.app.db.session() as session:
        assert WorkflowRepository(session).status(filing_id) == ("submitted", 2)
    # The dashboard's figures lead to the lists behind them.
    assert 'href="/console/enterprises?bucket=submitted"' in browser.get("/console/").text
    listed = browser.get("/console/enterprises?bucket=submitted").text
    assert ENTERPRISE_A[0] in listed and "共 1 条" in listed
    assert "共 0 条" in browser.get("/console/enterprises?bucket=unbound").text

    # A binding request approved in the console: the chat is bound and told at once.
    with desk.app.db.session() as session:
        enterprise = EnterpriseRepository(session).by_credit_code(CODE_A)
        assert enterprise is not None
        request_id = RequestRepository(session).open(
            "binding",
            "telegram",
            "5151",
            {"credit_code": CODE_A, "full_name": "王芳", "mobile": "13800138000"},
            now,
            enterprise_id=enterprise.id,
        )
    listed = browser.get("/console/requests").text
    assert f"#{request_id} 绑定申请" in listed and "王芳 申请绑定" in listed
    done = browser.post(
        "/console/requests",
        {"request": str(request_id), "action": "approve", "_csrf": browser.csrf()},
    )
    assert f"已处理申请 {request_id}：批准。" in done.text
    (told, *_rest) = fake.wait_for_messages(5151, 1, 10)
    assert told.body == "✅ 您的申请已通过。"
    assert "目前没有待处理的申请" in browser.get("/console/requests").text
    assert "审核员" in browser.get("/console/reminders").text


def test_sign_in_links_are_masked_in_logs() -> None:
    # tornado's access log writes every request's path.
    line = "200 POST /console/login/x3Yz_-Q9 (127.0.0.1) 4.2ms"
    assert mask_personal(line) == "200 POST /console/login/<token> (127.0.0.1) 4.2ms"
