"""`nianjian backup` / `nianjian restore` on SQLite and PostgreSQL: filings filled and submitted,
a backup taken while a contact keeps answering, the database and attachments wiped, restored;
every answer acknowledged before the backup started, every file (byte for byte) and every
history entry is back, and the checksums are verified."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from bot import cli
from bot.admin import import_roster, issue_invite
from bot.app import App, bootstrap
from bot.backup import MANIFEST, BackupError, backup, restore, snapshots, stored_files
from bot.settings import Settings
from dialogs.replies import Start, TextIn, reply_text
from storage.db import Database
from storage.migrate import head_revision, upgrade
from storage.models import AnswerRow, AttachmentRow, FilingVersionRow, TransitionRow
from tests import filing_script as script
from tests.fakes import ENTERPRISE_A, FrozenClock, fill_like_the_script, play, write_roster

REVIEWER = "wang"


def _settings(db_url: str, files: Path) -> Settings:
    return Settings(
        database_url=db_url,
        attachments_dir=files,
        reviewers=f"tg:{REVIEWER}",
        trial_channels="test",
    )


def _submitted_filing(app: App, tmp_path: Path) -> None:
    """A bound enterprise's filing, filled and submitted: a version and a history entry."""
    import_roster(app, write_roster(tmp_path / "roster.xlsx", [ENTERPRISE_A]))
    invite, found = issue_invite(app, "91110108551385082Q")
    assert found
    code = invite[0].split("：")[1][:8]
    turn = app.service.handle("tg", "alice", Start(code), queue=True)
    assert turn.filing_id is not None
    fill_like_the_script(app.db, turn.filing_id, app.service.clock.now())
    app.service.handle("tg", "alice", TextIn("提交"), queue=True)
    done = app.service.handle("tg", "alice", TextIn("确认提交"), queue=True)
    assert "已提交审核（第 1 版）" in reply_text(done.replies[0])


def _state(db: Database) -> dict[str, Any]:
    """What must survive: answers (with values), attachments, versions, history."""
    with db.session() as session:
        answers = {
            (r.filing_id, r.field, r.record, r.year): (r.vtype, r.value_num, r.value_text)
            for r in session.scalars(select(AnswerRow))
        }
        return {
            "answers": answers,
            "attachments": set(session.scalars(select(AttachmentRow.sha256))),
            "versions": {
                (v.filing_id, v.version, v.snapshot)
                for v in session.scalars(select(FilingVersionRow))
            },
            "history": {
                (h.filing_id, h.version, h.from_status, h.to_status, h.actor)
                for h in session.scalars(select(TransitionRow))
            },
        }


def _wipe(settings: Settings) -> None:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        database = Path(url.database or "")
        for path in database.parent.glob(database.name + "*"):
            path.unlink()
    else:
        db = Database.from_url(settings.database_url)
        with db.session() as session:
            session.execute(text("DROP SCHEMA public CASCADE"))
            session.execute(text("CREATE SCHEMA public"))
        db.dispose()
    shutil.rmtree(settings.attachments_dir)


def test_backup_while_answering_wipe_restore(db_url: str, tmp_path: Path) -> None:  # noqa: PLR0915
    upgrade(db_url)
    settings = _settings(db_url, tmp_path / "files")
    app = bootstrap(settings, FrozenClock())
    service = app.service
    _submitted_filing(app, tmp_path)
    service.handle("test", "bob", Start())
    for step in script.filing_script():  # a whole filing with every upload
        play(service, "bob", step)

    # carol keeps answering from another thread while the backup runs.
    steps = script.filing_script()
    service.handle("test", "carol", Start())
    gate = threading.Lock()
    stop = threading.Event()
    answered = [0]
    failures: list[BaseException] = []

    def contact() -> None:
        try:
            for step in steps:
                # A person's pace (the whole script would otherwise be done before the
                # backup starts); the backup ends it early.
                if stop.wait(0.02):
                    return
                with gate:
                    play(service, "carol", step)
                    answered[0] += 1
        except BaseException as error:  # reported by the test below
            failures.append(error)

    writer = threading.Thread(target=contact)
    writer.start()
    while answered[0] < 40:
        stop.wait(0.01)
    with gate:  # what was acknowledged when the backup starts
        before = _state(app.db)
        answered_before = answered[0]
    report = backup(settings, tmp_path / "backup")
    answered_during = answered[0] - answered_before
    stop.set()
    writer.join()
    assert not failures, failures
    assert answered_during > 0, "the contact was not answering during the backup"
    originals = {sha: path.read_bytes() for sha, path in stored_files(settings.attachments_dir)}
    assert report.files >= len(before["attachments"]) > 0
    assert report.copied == report.files

    # A second run copies only new files; the snapshot is complete (manifest last).
    again = backup(settings, tmp_path / "backup")
    assert again.copied == len(originals) - report.files
    assert [p.name for p in snapshots(tmp_path / "backup")] == sorted(
        [report.snapshot.name, again.snapshot.name]
    )
    app.db.dispose()

    # Refused over live data, then wiped and restored from the first snapshot.
    with pytest.raises(BackupError, match="不是空的"):
        restore(settings, tmp_path / "backup", snapshot=report.snapshot.name)
    _wipe(settings)
    restored = restore(settings, tmp_path / "backup", snapshot=report.snapshot.name)
    assert restored.revision == head_revision()
    db = Database.from_url(db_url)
    try:
        after = _state(db)
    finally:
        db.dispose()
    for key in ("versions", "history", "attachments"):
        assert before[key] <= after[key], key
    assert before["history"] and before["versions"]
    missing = {k: v for k, v in before["answers"].items() if after["answers"].get(k) != v}
    assert not missing, f"{len(missing)} acknowledged answers lost, e.g. {next(iter(missing))}"
    # Every file the restored database refers to is there, byte for byte.
    for sha in after["attachments"]:
        restored_file = settings.attachments_dir / sha[:2] / sha[2:4] / sha
        assert restored_file.read_bytes() == originals[sha]


def test_restore_verifies_checksums_and_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'nianjian.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NIANJIAN_DATABASE_URL", url)
    monkeypatch.setenv("NIANJIAN_ATTACHMENTS_DIR", str(tmp_path / "files"))
    monkeypatch.setenv("NIANJIAN_TRIAL_CHANNELS", "test")
    upgrade(url)
    settings = Settings()
    app = bootstrap(settings, FrozenClock())
    app.service.handle("test", "bob", Start())
    for step in script.filing_script():
        play(app.service, "bob", step)
    app.db.dispose()

    assert cli.main(["backup", str(tmp_path / "backup")]) == 0
    assert "✓ 备份完成" in capsys.readouterr().out
    (snapshot,) = snapshots(tmp_path / "backup")
    assert (snapshot / MANIFEST).is_file()
    assert cli.main(["restore", str(tmp_path / "backup")]) == 1
    assert "不是空的" in capsys.readouterr().err

    # A damaged file in the backup is found before anything is overwritten.
    victim = next(p for p in (tmp_path / "backup" / "files").rglob("*") if p.is_file())
    victim.write_bytes(victim.read_bytes() + b"x")
    assert cli.main(["restore", "--force", str(tmp_path / "backup")]) == 1
    assert "校验不通过" in capsys.readouterr().err
    victim.write_bytes(victim.read_bytes()[:-1])
    assert cli.main(["restore", "--force", str(tmp_path / "backup")]) == 0
    assert "校验和全部一致" in capsys.readouterr().out
    assert cli.main(["restore", str(tmp_path / "nothing")]) == 2
    assert "没有完整的备份快照" in capsys.readouterr().err
    # Run from the wrong place: nothing there to back up, and no empty database made up.
    monkeypatch.setenv("NIANJIAN_DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert cli.main(["backup", str(tmp_path / "backup")]) == 3
    assert "不存在或还没有建表" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere.db").exists()
