"""Upgrades without loss: a database as the previous release left it (tests/data/, filled and
submitted filings, uploads, history) is upgraded to head and reads the same, on SQLite and
PostgreSQL; and the operator's upgrade procedure (stop, back up, install, db upgrade, doctor,
start) run command by command."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from storage.db import Database
from storage.migrate import current_revision, head_revision, known_revisions, upgrade
from storage.repository import FilingRepository
from tests.release_fixture import FIXTURE, PREVIOUS_RELEASE_HEAD, Rows, dump, load

# The release's head, and older revisions an installation may still be at.
STARTS = sorted({PREVIOUS_RELEASE_HEAD, "0004", "0005"})


def _fixture() -> Rows:
    rows: Rows = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return rows


def _same_rows(before: Rows, after: Rows) -> None:
    """Every row as it was, in the columns it had (an upgrade may add columns and tables)."""
    for table, rows in before.items():
        assert len(after[table]) == len(rows), table
        for old, new in zip(rows, after[table], strict=True):
            assert {k: new[k] for k in old} == old, (table, old)


def _read_every_filing(db: Database, rows: Rows) -> None:
    """Through the current code: every filing loads, with every answer it had."""
    with db.session() as session:
        repo = FilingRepository(session)
        for filing in rows["filings"]:
            loaded = repo.load(filing["id"])
            answers = [a for a in rows["answers"] if a["filing_id"] == filing["id"]]
            assert len(loaded.answers) == len(answers)
            assert loaded.status == filing["status"]


@pytest.mark.parametrize("start", STARTS)
def test_an_old_database_upgrades_and_reads_the_same(db_url: str, start: str) -> None:
    assert PREVIOUS_RELEASE_HEAD in known_revisions()
    upgrade(db_url, start)
    db = Database.from_url(db_url)
    try:
        load(db, _fixture())
        before = dump(db)
        assert before["answers"] and before["transitions"] and before["filing_versions"]
        upgrade(db_url)
        assert current_revision(db_url) == head_revision()
        after = dump(db)
        _same_rows(before, after)
        _read_every_filing(db, after)
    finally:
        db.dispose()


def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("NIANJIAN_", "TELEGRAM_", "WECHAT_", "DATABASE_URL")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_the_upgrade_procedure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/operator/backup-upgrade.md, step by step, on a database one revision behind."""
    _clean_env(monkeypatch, tmp_path)
    url = f"sqlite:///{tmp_path / 'data' / 'nianjian.db'}"
    monkeypatch.setenv("NIANJIAN_DATABASE_URL", url)
    monkeypatch.setenv("NIANJIAN_REVIEWERS", "tg:wang")
    behind = known_revisions()[-2]
    upgrade(url, behind)
    db = Database.from_url(url)
    load(db, _fixture())
    before = dump(db)
    db.dispose()

    # The new release refuses to serve the old schema, naming the command.
    assert cli.main(["run"]) == cli.EXIT_DATABASE
    err = capsys.readouterr().err
    assert f"数据库版本 {behind} 落后于程序需要的 {head_revision()}" in err
    assert "nianjian db upgrade" in err and len(err.strip().splitlines()) == 1
    # Back up, upgrade, check, start.
    assert cli.main(["backup", str(tmp_path / "backup")]) == 0
    assert cli.main(["db", "upgrade"]) == 0
    assert f"已升级到 {head_revision()}" in capsys.readouterr().out
    assert cli.main(["doctor", "--min-free-mb", "1"]) == 0
    assert f"可连接，版本 {head_revision()}（最新）" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", _Empty())
    assert cli.main(["run"]) == 0  # no channel configured: the terminal chat, ended at once

    db = Database.from_url(url)
    try:
        after = dump(db)
    finally:
        db.dispose()
    # The terminal chat opened a trial filing of its own: the old rows come first, unchanged.
    for table in ("filings", "answers", "records", "filing_versions", "transitions"):
        kept = after[table][: len(before[table])]
        assert [{k: new[k] for k in old} for old, new in zip(before[table], kept, strict=True)] == (
            before[table]
        ), table


class _Empty:
    """A terminal whose input ends at once (EOF)."""

    def readline(self) -> str:
        return ""

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)
