"""`nianjian backup DIR` and `nianjian restore DIR`: a consistent snapshot of the database and
the attachments, with a manifest of checksums, and a restore that verifies every one.

Layout of DIR::

    files/ab/cd/abcd...            attachments by content (sha256), shared by every snapshot
    snapshots/20261202T193000Z/
        database.sqlite3 | database.pgdump
        manifest.json              written last: a snapshot without it is incomplete

The database is copied first (SQLite's online backup API, or pg_dump: each a transactionally
consistent copy while the bot keeps writing), the attachments after it. The store writes a file
before the transaction that refers to it commits, so every file the copied database refers to
is already there when the attachments are copied.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import URL, make_url

from bot import texts_ops as t
from bot.settings import Settings
from storage import migrate
from storage.db import make_engine, normalize_url

FORMAT = 1
MANIFEST = "manifest.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1024 * 1024


class BackupError(Exception):
    """One line for the operator; exit code 1 (2 for a missing tool)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsynced_copy(source: Path, target: Path) -> str:
    """Copies a file through a temporary name and returns the sha256 of what was written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    digest = hashlib.sha256()
    with source.open("rb") as src, temporary.open("wb") as dst:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(temporary, target)
    return digest.hexdigest()


def _content_path(root: Path, sha: str) -> Path:
    """The attachment store's layout (storage/files.py), used in the backup as well."""
    return root / sha[:2] / sha[2:4] / sha


def stored_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(sha256, path) of every attachment in a store; temporary files are not attachments."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and _SHA256.fullmatch(path.name):
            yield path.name, path


# --- the database -----------------------------------------------------------------------------


def _url(settings: Settings) -> URL:
    return make_url(normalize_url(settings.database_url))


def _sqlite_path(url: URL) -> Path:
    return Path(url.database or "").expanduser()


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI for pg_dump and friends, the password in the environment, not argv."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(tool: str, *args: str, env: dict[str, str]) -> None:
    if shutil.which(tool) is None:
        raise BackupError(t.BACKUP_TOOL_MISSING.format(tool=tool), 2)
    done = subprocess.run([tool, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        error = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise BackupError(t.BACKUP_TOOL_FAILED.format(tool=tool, error=error))


def dump_database(settings: Settings, target_dir: Path) -> Path:
    url = _url(settings)
    if url.get_backend_name() == "sqlite":
        target = target_dir / "database.sqlite3"
        source = sqlite3.connect(_sqlite_path(url))
        copy = sqlite3.connect(target)
        try:
            # One step: a read transaction over the whole copy, whatever writers do meanwhile.
            source.backup(copy)
            # A self-contained file, not one that expects a -wal beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
            source.close()
        return target
    target = target_dir / "database.pgdump"
    uri, env = _libpq(url)
    _run(
        "pg_dump",
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        f"--file={target}",
        uri,
        env=env,
    )
    return target


def database_is_empty(settings: Settings) -> bool:
    url = _url(settings)
    if url.get_backend_name() == "sqlite" and not _sqlite_path(url).exists():
        return True
    engine = make_engine(settings.database_url)
    try:
        return not inspect(engine).get_table_names()
    finally:
        engine.dispose()


def load_database(settings: Settings, dump: Path, *, replace: bool) -> None:
    url = _url(settings)
    if url.get_backend_name() == "sqlite":
        path = _sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(dump)
        target = sqlite3.connect(path)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=WAL")
        finally:
            target.close()
            source.close()
        return
    uri, env = _libpq(url)
    clean = ["--clean", "--if-exists"] if replace else []
    _run(
        "pg_restore",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        *clean,
        f"--dbname={uri}",
        str(dump),
        env=env,
    )


# --- snapshots --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupReport:
    snapshot: Path
    database_bytes: int
    files: int
    copied: int


def _version() -> str:
    try:
        return metadata.version("nianjian")
    except metadata.PackageNotFoundError:
        return "unknown"


def backup(settings: Settings, directory: Path, now: datetime | None = None) -> BackupReport:
    now = now or datetime.now(UTC)
    url = _url(settings)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and not _sqlite_path(url).is_file():
        raise BackupError(t.BACKUP_NO_DATABASE.format(url=shown), 3)
    revision = migrate.current_revision(settings.database_url)
    if revision is None:
        raise BackupError(t.BACKUP_NO_DATABASE.format(url=shown), 3)
    snapshot = directory / "snapshots" / now.strftime("%Y%m%dT%H%M%S%fZ")
    snapshot.mkdir(parents=True)
    dump = dump_database(settings, snapshot)
    files: dict[str, int] = {}
    copied = 0
    store = directory / "files"
    for sha, path in stored_files(settings.attachments_dir):
        target = _content_path(store, sha)
        if not target.exists() or target.stat().st_size != path.stat().st_size:
            if _fsynced_copy(path, target) != sha:
                target.unlink()
                raise BackupError(t.BACKUP_SOURCE_CORRUPT.format(path=path))
            copied += 1
        files[sha] = target.stat().st_size
    manifest = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "nianjian_version": _version(),
        "schema_revision": revision,
        "database": {
            "dialect": _url(settings).get_backend_name(),
            "file": dump.name,
            "sha256": sha256_of(dump),
            "size": dump.stat().st_size,
        },
        "attachments": dict(sorted(files.items())),
    }
    temporary = snapshot / f".{MANIFEST}.tmp"
    temporary.write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    with temporary.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(temporary, snapshot / MANIFEST)
    return BackupReport(snapshot, dump.stat().st_size, len(files), copied)


def snapshots(directory: Path) -> list[Path]:
    """Complete snapshots, oldest first."""
    root = directory / "snapshots"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / MANIFEST).is_file())


@dataclass(frozen=True)
class RestoreReport:
    snapshot: Path
    revision: str | None
    files: int


def restore(
    settings: Settings, directory: Path, *, snapshot: str | None = None, force: bool = False
) -> RestoreReport:
    found = snapshots(directory)
    if snapshot is not None:
        found = [p for p in found if p.name == snapshot]
    if not found:
        raise BackupError(t.RESTORE_NO_SNAPSHOT.format(dir=directory), 2)
    chosen = found[-1]
    manifest: dict[str, Any] = json.loads((chosen / MANIFEST).read_text(encoding="utf-8"))
    what_db = t.WHAT_DATABASE.format(url=_url(settings).render_as_string(hide_password=True))
    what_files = t.WHAT_ATTACHMENTS.format(path=settings.attachments_dir)
    if not force:
        if not database_is_empty(settings):
            raise BackupError(t.RESTORE_NOT_EMPTY.format(what=what_db))
        if any(True for _ in stored_files(settings.attachments_dir)):
            raise BackupError(t.RESTORE_NOT_EMPTY.format(what=what_files))
    # Everything is checked before anything is written.
    dump = chosen / manifest["database"]["file"]
    if not dump.is_file() or sha256_of(dump) != manifest["database"]["sha256"]:
        raise BackupError(t.RESTORE_CHECKSUM.format(what=dump))
    store = directory / "files"
    for sha in manifest["attachments"]:
        source = _content_path(store, sha)
        if not source.is_file() or sha256_of(source) != sha:
            raise BackupError(t.RESTORE_CHECKSUM.format(what=source))
    load_database(settings, dump, replace=force)
    for sha in manifest["attachments"]:
        target = _content_path(settings.attachments_dir, sha)
        if _fsynced_copy(_content_path(store, sha), target) != sha:
            raise BackupError(t.RESTORE_CHECKSUM.format(what=target))
    # Read back: what is on disk now is what the manifest says.
    for sha in manifest["attachments"]:
        if sha256_of(_content_path(settings.attachments_dir, sha)) != sha:
            raise BackupError(t.RESTORE_CHECKSUM.format(what=sha))
    revision = migrate.current_revision(settings.database_url)
    return RestoreReport(chosen, revision, len(manifest["attachments"]))


# --- the commands -----------------------------------------------------------------------------


def _size(n: int) -> str:
    return f"{n / 1024**2:.1f} MB" if n >= 1024**2 else f"{n / 1024:.0f} KB"


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    try:
        report = backup(settings, args.dir)
    except BackupError as error:
        print(error, file=sys.stderr)
        return error.code
    print(
        t.BACKUP_DONE.format(
            snapshot=report.snapshot,
            db_size=_size(report.database_bytes),
            files=report.files,
            copied=report.copied,
        )
    )
    return 0


def _restore(settings: Settings, args: argparse.Namespace) -> int:
    try:
        report = restore(settings, args.dir, snapshot=args.snapshot, force=args.force)
    except BackupError as error:
        print(error, file=sys.stderr)
        return error.code
    print(
        t.RESTORE_DONE.format(
            snapshot=report.snapshot, revision=report.revision, files=report.files
        )
    )
    head = migrate.head_revision()
    if report.revision != head:
        print(t.RESTORE_UPGRADE.format(revision=report.revision, head=head))
    return 0


def add_commands(sub: Any) -> None:
    backup_parser = sub.add_parser(
        "backup", help="备份数据库和附件到 DIR", description=t.BACKUP_DESCRIPTION
    )
    backup_parser.add_argument("dir", type=Path, help="备份目录（可反复使用：附件只复制新的）")
    backup_parser.set_defaults(handler=_backup)
    restore_parser = sub.add_parser(
        "restore", help="从 DIR 恢复数据库和附件", description=t.RESTORE_DESCRIPTION
    )
    restore_parser.add_argument("dir", type=Path, help="备份目录")
    restore_parser.add_argument(
        "--snapshot", default=None, help="快照名（snapshots/ 下的目录名；默认最新）"
    )
    restore_parser.add_argument("--force", action="store_true", help="目标不为空时也恢复（覆盖）")
    restore_parser.set_defaults(handler=_restore)
