"""The command line: nested subcommands with their own --help, and routine mistakes ending in
one line and a documented exit code, never a traceback (run from another directory, a database
that is not migrated or cannot be reached, a missing roster file, a downgrade without a
revision or confirmation, Ctrl-C in the terminal chat, Telegram unreachable at start-up)."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import cli
from storage.migrate import current_revision, head_revision, known_revisions, upgrade
from tests import fake_wechat
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NIANJIAN_", "TELEGRAM_", "WECHAT_")) and k != "DATABASE_URL"
    }
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8", **extra)
    return env


def _nianjian(
    tmp_path: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """`nianjian ARGS` in tmp_path (not the source tree), as the operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=tmp_path,
        env=_env(tmp_path, **env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _one_line(done: subprocess.CompletedProcess[str], code: int, *parts: str) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1, line
    for part in parts:
        assert part in line, (part, line)
    return line


def _commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*prefix, name))


def test_every_command_has_its_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    commands = list(_commands(cli.build_parser()))
    assert ("db", "downgrade") in commands and ("reminders", "list") in commands
    assert ("doctor",) in commands and ("backup",) in commands and ("restore",) in commands
    for command in commands:
        with pytest.raises(SystemExit) as exit_:
            cli.main([*command, "--help"])
        assert exit_.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: nianjian {' '.join(command)}".rstrip()), out
    assert "130  被 Ctrl-C 中断" in cli.build_parser().format_help()


def test_run_on_a_database_that_was_not_migrated(tmp_path: Path) -> None:
    # Started from a directory without .env: the default SQLite file there is empty.
    line = _one_line(_nianjian(tmp_path, "run"), cli.EXIT_DATABASE, "nianjian db upgrade")
    assert f"当前目录 {tmp_path}" in line


def test_run_on_a_database_behind_refuses_or_upgrades_when_told(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nj.db'}"
    behind = known_revisions()[-2]
    upgrade(url, behind)
    done = _nianjian(tmp_path, "run", DATABASE_URL=url)
    _one_line(done, cli.EXIT_DATABASE, f"数据库版本 {behind} 落后于", "nianjian db upgrade")
    assert current_revision(url) == behind
    done = _nianjian(tmp_path, "run", "--upgrade", DATABASE_URL=url)  # then the chat, EOF
    assert done.returncode == 0, done.stderr
    assert f"已升级到 {head_revision()}" in done.stdout
    assert current_revision(url) == head_revision()
    upgrade(url)
    with_newer = _nianjian(tmp_path, "db", "current", DATABASE_URL=url)
    assert f"数据库版本：{head_revision()}" in with_newer.stdout


def test_unreachable_database_and_missing_roster(tmp_path: Path) -> None:
    url = "postgresql://nianjian:s3cret@127.0.0.1:1/nianjian"
    line = _one_line(
        _nianjian(tmp_path, "run", DATABASE_URL=url), cli.EXIT_DATABASE, "连不上数据库"
    )
    assert "s3cret" not in line and "127.0.0.1:1" in line
    _one_line(
        _nianjian(tmp_path, "db", "upgrade", DATABASE_URL=url), cli.EXIT_DATABASE, "连不上数据库"
    )
    url = f"sqlite:///{tmp_path / 'nj.db'}"
    upgrade(url)
    done = _nianjian(tmp_path, "roster", "import", "名单.xlsx", DATABASE_URL=url)
    _one_line(done, cli.EXIT_USAGE, "找不到文件：名单.xlsx")
    done = _nianjian(tmp_path, "roster", "import", DATABASE_URL=url)
    assert done.returncode == cli.EXIT_USAGE and "file" in done.stderr  # argparse's usage error


def test_invalid_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    done = _nianjian(tmp_path, "run", NIANJIAN_INSPECTION_YEAR="二〇二五")
    assert done.returncode == cli.EXIT_USAGE and "Traceback" not in done.stderr
    assert "✗ 设置 NIANJIAN_INSPECTION_YEAR 无效" in done.stderr


def test_downgrade_needs_a_revision_and_a_confirmation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nj.db'}"
    upgrade(url)
    target = known_revisions()[-2]
    done = _nianjian(tmp_path, "db", "downgrade", DATABASE_URL=url)
    assert done.returncode == cli.EXIT_USAGE and "revision" in done.stderr
    assert current_revision(url) == head_revision()
    done = _nianjian(tmp_path, "db", "downgrade", "nonsense", DATABASE_URL=url)
    _one_line(done, cli.EXIT_USAGE, "没有版本 nonsense")
    # Not a terminal and no --yes: refused, nothing dropped.
    done = _nianjian(tmp_path, "db", "downgrade", target, DATABASE_URL=url, stdin="yes\n")
    assert done.returncode == cli.EXIT_USAGE and "未确认" in done.stderr
    assert f"降级到 {target}" in done.stdout and "nianjian backup" in done.stdout
    assert current_revision(url) == head_revision()
    done = _nianjian(tmp_path, "db", "downgrade", target, "--yes", DATABASE_URL=url)
    assert done.returncode == 0 and f"已降级到 {target}" in done.stdout
    assert current_revision(url) == target
    # "Down" to a newer revision, up to one that does not exist: one line each.
    done = _nianjian(tmp_path, "db", "downgrade", head_revision(), "--yes", DATABASE_URL=url)
    _one_line(done, cli.EXIT_USAGE, "迁移无法进行")
    _one_line(_nianjian(tmp_path, "db", "upgrade", "0099", DATABASE_URL=url), 2, "迁移无法进行")
    assert current_revision(url) == target


def test_ctrl_c_leaves_the_terminal_chat_quietly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nj.db'}"
    upgrade(url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "chat"],
        cwd=tmp_path,
        env=_env(tmp_path, DATABASE_URL=url),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    while "你>" not in proc.stdout.readline() + proc.stdout.read(3):
        pass
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == cli.EXIT_INTERRUPTED
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip() == "已中断。"


@pytest.mark.parametrize(
    ("method", "failures"),
    [("getMe", 2), ("deleteWebhook", 1)],  # before python-telegram-bot started, and after
)
def test_telegram_unreachable_at_start_is_retried(
    tmp_path: Path, method: str, failures: int
) -> None:
    url = f"sqlite:///{tmp_path / 'nj.db'}"
    upgrade(url)
    log = tmp_path / "bot.log"
    with FakeTelegram() as fake:
        fake.fail_network_next(method, failures)
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"],
                cwd=tmp_path,
                env=_env(
                    tmp_path,
                    DATABASE_URL=url,
                    TELEGRAM_TOKEN=fake.token,
                    TELEGRAM_BASE_URL=fake.base_url,
                    TELEGRAM_BASE_FILE_URL=fake.base_file_url,
                    NIANJIAN_TELEGRAM_POLL_TIMEOUT="1",
                ),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        try:
            deadline = time.monotonic() + TIMEOUT
            while fake.requests["getUpdates"] == 0 and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.1)
            assert fake.requests[method] == failures + 1
            fake.send_text(42, "/start")
            assert fake.wait_for_messages(42, timeout=TIMEOUT)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=TIMEOUT)
    output = log.read_text()
    assert proc.returncode == 0, output
    assert output.count("连不上 Telegram") == failures and "2 秒后重试" in output
    assert failures < 2 or "4 秒后重试" in output
    assert "Traceback" not in output, output


def test_a_refused_telegram_token_ends_with_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nj.db'}"
    upgrade(url)
    with FakeTelegram() as fake:
        fake.fail_next("getMe", error_code=401)
        done = _nianjian(
            tmp_path,
            "run",
            DATABASE_URL=url,
            TELEGRAM_TOKEN=fake.token,
            TELEGRAM_BASE_URL=fake.base_url,
        )
    assert done.returncode == cli.EXIT_USAGE, done.stderr
    assert "Traceback" not in done.stderr
    assert "✗ Telegram 拒绝了 NIANJIAN_TELEGRAM_TOKEN" in done.stderr


def test_a_port_in_use_ends_with_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nj.db'}"
    upgrade(url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _nianjian(
            tmp_path,
            "run",
            DATABASE_URL=url,
            WECHAT_APP_ID=fake_wechat.APP_ID,
            WECHAT_APP_SECRET=fake_wechat.APP_SECRET,
            WECHAT_TOKEN=fake_wechat.TOKEN,
            WEB_HOST="127.0.0.1",
            WEB_PORT=str(port),
            WECHAT_MODE="plain",
        )
    assert done.returncode == cli.EXIT_USAGE, done.stderr
    assert "Traceback" not in done.stderr
    assert f"✗ 无法监听端口 NIANJIAN_WEB_PORT={port}" in done.stderr
