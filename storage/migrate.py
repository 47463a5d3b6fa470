"""Schema migrations, driven from code so they work from an installed package without an
alembic.ini: `upgrade(url)` from the CLI, `downgrade(url, rev)` only with an explicit revision,
and `schema_state(url)` for the commands that refuse to run on a database behind the code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage.db import make_engine, normalize_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_config(url: str) -> Config:
    config = Config()
    # configparser treats "%" as interpolation; URL-encoded passwords contain it.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(make_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(make_config(url), revision)


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The revision this code expects (the newest migration shipped with it)."""
    head = ScriptDirectory.from_config(make_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def known_revisions() -> list[str]:
    """Every shipped revision, oldest first."""
    script = ScriptDirectory.from_config(make_config("sqlite://"))
    return [s.revision for s in reversed(list(script.walk_revisions()))]


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def at_head(self) -> bool:
        return self.current == self.head

    @property
    def unknown(self) -> bool:
        """A revision this code does not ship: the database was upgraded by a newer release."""
        return self.current is not None and self.current not in known_revisions()


def schema_state(url: str) -> SchemaState:
    return SchemaState(current_revision(url), head_revision())
