"""`nianjian doctor`: every check passes on a good setup, and each failure it can report is
provoked here, against real SQLite/PostgreSQL, the fake Bot API (python-telegram-bot) and the
fake WeChat API (wechatpy)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import reportlab
from sqlalchemy import insert, text

from bot import cli
from bot.doctor import Finding, Level, diagnose
from bot.settings import Settings
from storage.db import Database
from storage.migrate import downgrade, upgrade
from storage.models import OutboxRow
from tests import fake_wechat
from tests.fake_telegram import BOT_USERNAME, FakeTelegram
from tests.fake_wechat import FakeWeChat
from tests.fakes import FrozenClock
from tests.reminder_fixtures import seed
from tests.test_reminders import bj

PREFIXES = ("NIANJIAN_", "TELEGRAM_", "WECHAT_", "DATABASE_URL")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """A clean environment in an empty directory: only what a test sets."""
    for name in list(os.environ):
        if name.startswith(PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NIANJIAN_REVIEWERS", "console:wang")
    yield monkeypatch


def _sqlite(tmp_path: Path, env: pytest.MonkeyPatch, *, migrate: bool = True) -> str:
    url = f"sqlite:///{tmp_path / 'db' / 'nianjian.db'}"
    env.setenv("NIANJIAN_DATABASE_URL", url)
    if migrate:
        upgrade(url)
    return url


def _check(findings: list[Finding], level: Level, *parts: str) -> str:
    """The one line of `level` containing every part."""
    lines = [f.text for f in findings if f.level is level and all(p in f.text for p in parts)]
    assert len(lines) == 1, (level, parts, [f.line() for f in findings])
    return lines[0]


def _levels(findings: list[Finding]) -> set[Level]:
    return {f.level for f in findings}


def test_a_good_setup_passes_with_both_channels(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _sqlite(tmp_path, env)
    clock = FrozenClock()
    with FakeTelegram() as telegram, FakeWeChat(clock) as wechat:
        env.setenv("NIANJIAN_TELEGRAM_TOKEN", telegram.token)
        env.setenv("NIANJIAN_TELEGRAM_BASE_URL", telegram.base_url)
        env.setenv("NIANJIAN_WECHAT_APP_ID", fake_wechat.APP_ID)
        env.setenv("NIANJIAN_WECHAT_APP_SECRET", fake_wechat.APP_SECRET)
        env.setenv("NIANJIAN_WECHAT_TOKEN", fake_wechat.TOKEN)
        env.setenv("NIANJIAN_WECHAT_API_BASE_URL", wechat.base_url)
        env.setenv("NIANJIAN_PUBLIC_URL", "https://nianjian.example.cn")
        assert cli.main(["doctor", "--min-free-mb", "1"]) == 0
        assert wechat.token_fetches == 1
    out = capsys.readouterr().out
    assert "✗" not in out and "!" not in out.replace("！", ""), out
    for expected in (
        "✓ 设置有效",
        "✓ 数据库（NIANJIAN_DATABASE_URL=sqlite:///",
        "✓ 附件目录（NIANJIAN_ATTACHMENTS_DIR=data/attachments）可写",
        "✓ 中文字体：",
        "✓ 节假日数据覆盖年检周期 2025、2026 年",
        f"✓ Telegram 令牌有效（NIANJIAN_TELEGRAM_TOKEN）：机器人 @{BOT_USERNAME}",
        "✓ Telegram 轮询模式",
        "✓ 微信公众号凭据有效",
        "✓ 微信公开地址 NIANJIAN_PUBLIC_URL=https://nianjian.example.cn（公众号后台的服务器地址："
        "https://nianjian.example.cn/wechat）",
        "✓ 发送队列：待发 0 条，失败 0 条",
        "✓ 提醒：没有到期未发的",
        "检查完毕：没有阻断项（0 条提醒）。",
    ):
        assert expected in out, (expected, out)


def test_invalid_settings_name_the_setting(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("NIANJIAN_TELEGRAM_MAX_IN_FLIGHT", "0")
    env.setenv("NIANJIAN_INVITE_DAYS", "thirty")
    assert cli.main(["doctor"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "✗ 设置 NIANJIAN_TELEGRAM_MAX_IN_FLIGHT 无效" in err
    assert "✗ 设置 NIANJIAN_INVITE_DAYS 无效" in err
    assert "Traceback" not in err


def test_inconsistent_settings_block(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _sqlite(tmp_path, env)
    env.setenv("NIANJIAN_WECHAT_APP_ID", fake_wechat.APP_ID)
    env.setenv("NIANJIAN_TELEGRAM_WEBHOOK_URL", "http://bot.example.cn/telegram")
    env.setenv("NIANJIAN_REVIEWERS", "")
    findings = diagnose(Settings(), min_free_mb=1)
    _check(
        findings, Level.FAIL, "微信设置不完整", "NIANJIAN_WECHAT_APP_SECRET、NIANJIAN_WECHAT_TOKEN"
    )
    _check(findings, Level.FAIL, "NIANJIAN_TELEGRAM_WEBHOOK_URL 必须是 https://")
    _check(findings, Level.WARN, "NIANJIAN_TELEGRAM_TOKEN", "终端对话")
    _check(findings, Level.WARN, "NIANJIAN_REVIEWERS 为空")


def test_the_retired_webhook_port_is_named_with_what_to_do(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An installation of the version before keeps NIANJIAN_TELEGRAM_WEBHOOK_PORT in its .env
    and nginx pointing there: doctor says that the webhook moved to WEB_PORT."""
    _sqlite(tmp_path, env)
    assert not [f for f in diagnose(Settings(), min_free_mb=1) if "已不再使用" in f.text]
    (tmp_path / ".env").write_text(
        "# 旧设置\nNIANJIAN_TELEGRAM_WEBHOOK_PORT=8443\nWEB_PORT=8080\n", encoding="utf-8"
    )
    env.setenv("NIANJIAN_TELEGRAM_WEBHOOK_LISTEN", "127.0.0.1")
    findings = diagnose(Settings(), min_free_mb=1)
    line = _check(findings, Level.WARN, "已不再使用")
    assert "NIANJIAN_TELEGRAM_WEBHOOK_PORT、NIANJIAN_TELEGRAM_WEBHOOK_LISTEN" in line
    assert "NIANJIAN_WEB_PORT" in line and "location /telegram" in line


def test_a_cycle_without_a_schedule_blocks_and_without_holiday_data_warns(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _sqlite(tmp_path, env)
    # The shipped schedule is for 2025 (blocks), and chinese-calendar stops before 2027 (a
    # warning: that year's working days are estimated until the holiday file is filled).
    env.setenv("NIANJIAN_INSPECTION_YEAR", "2026")
    findings = diagnose(Settings(), min_free_mb=1)
    _check(findings, Level.FAIL, "提醒安排 NIANJIAN_REMINDERS_SCHEDULE 有误", "2025")
    _check(findings, Level.WARN, "节假日数据不含 2027 年", "NIANJIAN_INSPECTION_YEAR=2026")
    _check(findings, Level.SKIP, "提醒")


def test_database_unreachable_empty_behind_and_ahead(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("NIANJIAN_DATABASE_URL", "postgresql://nianjian:secret@127.0.0.1:1/nianjian")
    findings = diagnose(Settings(), min_free_mb=1)
    line = _check(findings, Level.FAIL, "连不上数据库", "127.0.0.1:1")
    assert "secret" not in line
    _check(findings, Level.SKIP, "发送队列：数据库不可用")

    url = _sqlite(tmp_path, env, migrate=False)
    _check(diagnose(Settings(), min_free_mb=1), Level.FAIL, "还没有建表", "nianjian db upgrade")
    upgrade(url, "0005")
    _check(diagnose(Settings(), min_free_mb=1), Level.FAIL, "数据库版本 0005 落后于", "db upgrade")
    upgrade(url)
    db = Database.from_url(url)
    with db.session() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    db.dispose()
    _check(diagnose(Settings(), min_free_mb=1), Level.FAIL, "数据库版本 9999 比程序新")


def test_attachments_not_writable_or_disk_full(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _sqlite(tmp_path, env)
    (tmp_path / "occupied").write_text("a file where the directory should be")
    env.setenv("NIANJIAN_ATTACHMENTS_DIR", str(tmp_path / "occupied" / "attachments"))
    findings = diagnose(Settings(), min_free_mb=1)
    _check(findings, Level.FAIL, "附件目录（NIANJIAN_ATTACHMENTS_DIR=", "不可写")
    env.setenv("NIANJIAN_ATTACHMENTS_DIR", str(tmp_path / "attachments"))
    findings = diagnose(Settings(), min_free_mb=1024**3)  # an exabyte
    _check(findings, Level.FAIL, "所在磁盘只剩", "少于要求的")


def test_a_font_that_is_missing_or_has_no_chinese(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _sqlite(tmp_path, env)
    env.setenv("NIANJIAN_PDF_FONT", str(tmp_path / "missing.ttf"))
    _check(diagnose(Settings(), min_free_mb=1), Level.FAIL, "NIANJIAN_PDF_FONT=", "文件不存在")
    latin = Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"
    env.setenv("NIANJIAN_PDF_FONT", str(latin))
    _check(diagnose(Settings(), min_free_mb=1), Level.FAIL, "NIANJIAN_PDF_FONT=", "不含中文字形")
    (tmp_path / "broken.ttf").write_bytes(b"not a font at all")
    env.setenv("NIANJIAN_PDF_FONT", str(tmp_path / "broken.ttf"))
    line = _check(diagnose(Settings(), min_free_mb=1), Level.FAIL, "NIANJIAN_PDF_FONT=", "不能用：")
    assert "broken.ttf 不能用：" in line and "文件不存在" not in line


def test_telegram_token_refused_or_unreachable(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _sqlite(tmp_path, env)
    with FakeTelegram() as telegram:
        env.setenv("NIANJIAN_TELEGRAM_TOKEN", telegram.token)
        env.setenv("NIANJIAN_TELEGRAM_BASE_URL", telegram.base_url)
        telegram.fail_next("getMe", error_code=401)
        _check(
            diagnose(Settings(), min_free_mb=1),
            Level.FAIL,
            "Telegram 拒绝了 NIANJIAN_TELEGRAM_TOKEN",
        )
        base_url = telegram.base_url
    # The fake is gone: nothing listens there any more.
    findings = diagnose(Settings(), min_free_mb=1)
    _check(findings, Level.FAIL, "连不上 Telegram", f"NIANJIAN_TELEGRAM_BASE_URL={base_url}")


def test_telegram_webhook_state(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _sqlite(tmp_path, env)
    hook = "https://bot.example.cn/telegram"
    with FakeTelegram() as telegram:
        env.setenv("NIANJIAN_TELEGRAM_TOKEN", telegram.token)
        env.setenv("NIANJIAN_TELEGRAM_BASE_URL", telegram.base_url)
        env.setenv("NIANJIAN_TELEGRAM_WEBHOOK_URL", hook)
        _check(diagnose(Settings(), min_free_mb=1), Level.WARN, "webhook 是 （未设置）", hook)
        telegram.send_text(42, "/start")
        assert _set_webhook(telegram, hook)
        _check(
            diagnose(Settings(), min_free_mb=1), Level.OK, f"webhook 已设置为 {hook}，待处理 1 条"
        )
        telegram.webhook_failing(
            "SSL error {error:0A000086:SSL routines::certificate verify failed}"
        )
        line = _check(diagnose(Settings(), min_free_mb=1), Level.FAIL, "Telegram 无法送达", hook)
        assert "待处理 1 条" in line and "certificate verify failed" in line
        # An error from long ago is reported, not blocking.
        clock = FrozenClock()
        clock.current = clock.current + timedelta(days=400 * 30)
        findings = diagnose(Settings(), clock=clock, min_free_mb=1)
        assert Level.WARN in {f.level for f in findings if "无法送达" in f.text}
        env.delenv("NIANJIAN_TELEGRAM_WEBHOOK_URL")
        _check(
            diagnose(Settings(), min_free_mb=1),
            Level.WARN,
            "NIANJIAN_TELEGRAM_WEBHOOK_URL 未设置",
            "删除",
        )


def _set_webhook(telegram: FakeTelegram, url: str) -> bool:
    import asyncio

    from telegram import Bot

    async def call() -> bool:
        async with Bot(telegram.token, base_url=telegram.base_url) as bot:
            return await bot.set_webhook(url)

    return asyncio.run(call())


def test_wechat_credentials_refused_unreachable_and_public_url(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _sqlite(tmp_path, env)
    with FakeWeChat(FrozenClock()) as wechat:
        env.setenv("NIANJIAN_WECHAT_APP_ID", fake_wechat.APP_ID)
        env.setenv("NIANJIAN_WECHAT_APP_SECRET", "not-the-secret")
        env.setenv("NIANJIAN_WECHAT_TOKEN", fake_wechat.TOKEN)
        env.setenv("NIANJIAN_WECHAT_API_BASE_URL", wechat.base_url)
        findings = diagnose(Settings(), min_free_mb=1)
        _check(findings, Level.FAIL, "微信拒绝了 NIANJIAN_WECHAT_APP_ID=", "40125")
        _check(findings, Level.FAIL, "NIANJIAN_PUBLIC_URL 未设置", "http://0.0.0.0:8080")
        env.setenv("NIANJIAN_WECHAT_APP_SECRET", fake_wechat.APP_SECRET)
        env.setenv("NIANJIAN_PUBLIC_URL", "http://nianjian.example.cn")
        findings = diagnose(Settings(), min_free_mb=1)
        _check(findings, Level.OK, "微信公众号凭据有效")
        _check(findings, Level.WARN, "NIANJIAN_PUBLIC_URL=http://nianjian.example.cn 不是 https")
        base_url = wechat.base_url
    findings = diagnose(Settings(), min_free_mb=1)
    _check(findings, Level.FAIL, "连不上微信接口", f"NIANJIAN_WECHAT_API_BASE_URL={base_url}")


def test_outbox_backlog_and_failed_deliveries(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = _sqlite(tmp_path, env)
    clock = FrozenClock()
    db = Database.from_url(url)
    row = {"channel": "telegram", "chat_id": "42", "payload": "{}"}
    with db.session() as session:
        session.execute(
            insert(OutboxRow),
            [
                {**row, "status": "pending", "created_at": clock.now() - timedelta(minutes=30)},
                {**row, "status": "pending", "created_at": clock.now()},
                {
                    **row,
                    "status": "failed",
                    "created_at": clock.now(),
                    "last_error": "Bad Request: chat not found",
                },
            ],
        )
    db.dispose()
    findings = diagnose(Settings(), clock=clock, min_free_mb=1)
    _check(findings, Level.WARN, "发送队列积压：1 条消息等待超过 10 分钟", "2025-12-01 09:30")
    _check(findings, Level.WARN, "发送失败 1 条", "chat not found")
    assert Level.FAIL not in _levels(findings)


def test_reminders_due_but_not_sent(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = _sqlite(tmp_path, env)
    db = Database.from_url(url)
    seed(db, 1, now=bj(2025, 12, 1), status="complete")
    db.dispose()
    clock = FrozenClock()
    clock.current = bj(2026, 3, 15, 8, 0)
    _check(diagnose(Settings(), clock=clock, min_free_mb=1), Level.OK, "提醒：没有到期未发的")
    clock.current = bj(2026, 3, 15, 12, 0)
    findings = diagnose(Settings(), clock=clock, min_free_mb=1)
    _check(findings, Level.WARN, "1 条提醒到期超过 20 分钟仍未发出", "2026-03-15 09:00")


@pytest.mark.postgres
def test_doctor_on_postgresql(env: pytest.MonkeyPatch, pg_url: str) -> None:
    env.setenv("NIANJIAN_DATABASE_URL", pg_url)
    _check(diagnose(Settings(), min_free_mb=1), Level.FAIL, "还没有建表")
    upgrade(pg_url)
    findings = diagnose(Settings(), min_free_mb=1)
    _check(findings, Level.OK, "可连接，版本")
    _check(findings, Level.OK, "发送队列：待发 0 条")
    downgrade(pg_url, "0005")
    _check(diagnose(Settings(), min_free_mb=1), Level.FAIL, "落后于")
