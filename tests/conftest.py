"""Shared fixtures: every storage test runs on real SQLite and real PostgreSQL.

PostgreSQL comes from NIANJIAN_TEST_PG_URL (default: the local server's `test` database, used
only as the place to CREATE/DROP a throw-away database per test). When it cannot be reached the
PostgreSQL cases skip locally, and fail when CI=true so CI never passes without them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from storage.db import Database
from storage.migrate import upgrade

PG_URL_ENV = "NIANJIAN_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def pytest_configure(config: pytest.Config) -> None:
    # Every `nianjian run` serves its web server (health, console, WeChat); in the tests, in
    # process or as a subprocess, it takes a free port unless a test names one (WEB_PORT).
    os.environ.setdefault("NIANJIAN_WEB_PORT", "0")
    config.addinivalue_line(
        "markers", "postgres: needs PostgreSQL (skipped when unreachable unless CI=true)"
    )


def _libpq_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.startswith("postgres") else url


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """A libpq URL of a database we may connect to in order to create and drop others."""
    url = _libpq_url(os.environ.get(PG_URL_ENV, DEFAULT_PG_URL))
    try:
        with psycopg.connect(url, connect_timeout=5, autocommit=True):
            pass
    except psycopg.OperationalError as error:
        message = f"PostgreSQL unreachable at {url} (set {PG_URL_ENV}): {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, uniquely named database, dropped afterwards: parallel runs never collide."""
    name = f"nj_test_{secrets.token_hex(6)}"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            # FORCE: a test that failed half-way may leave pooled connections behind.
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database URL; the sqlite file sits in a directory that does not exist yet."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'data' / 'nianjian.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """A migrated database, disposed of after the test."""
    upgrade(db_url)
    db = Database.from_url(db_url)
    try:
        yield db
    finally:
        db.dispose()
