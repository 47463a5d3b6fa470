"""Statements of a chat message's hot path, compiled once and run on the DBAPI cursor.

SQLAlchemy builds, cache-keys and wraps every statement it executes; measured on a Telegram
message of a bound chat that is about 0.2 ms of CPU a statement, ten times what SQLite needs to
run it, and the largest share of the bot's CPU (bench/README.md). A `Prepared` statement is
still written with SQLAlchemy Core, so it stays dialect-neutral and checked against the
models; it is compiled once per dialect, its parameters go through the column types' own bind
processors (aware datetimes become what `UTCDateTime` stores, Decimals what `Numeric` stores),
and it runs on the cursor of the session's own connection: inside the session's transaction,
committed or rolled back with everything else.

Results come back as the driver returns them, so only statements whose result columns need no
conversion (integers, text) read through here; everything else uses the repositories' ORM path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameters in the order the driver wants them
    keys: tuple[str, ...]  # the same, as the driver's parameter names (pyformat dialects)
    processors: tuple[Callable[[Any], Any] | None, ...]
    fixed: Mapping[str, Any]  # literal values inside the statement (`revision + 1`)
    positional: bool

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        fixed = self.fixed
        converted = [
            value if process is None else process(value)
            for value, process in zip(
                (values[name] if name not in fixed else fixed[name] for name in self.names),
                self.processors,
                strict=True,
            )
        ]
        if self.positional:
            return converted
        return dict(zip(self.keys, converted, strict=True))


class Prepared:
    """One Core statement with named `bindparam`s, compiled per dialect on first use.

    `statement` is the statement, or a function of the dialect's name that builds it (for
    dialect-specific constructs such as INSERT ... ON CONFLICT)."""

    def __init__(self, statement: ClauseElement | Callable[[str], ClauseElement]) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is not None:
            return found
        with self._lock:
            statement = self._statement
            if not isinstance(statement, ClauseElement):
                statement = statement(dialect.name)
            compiled = statement.compile(dialect=dialect)
            assert isinstance(compiled, SQLCompiler)
            binds = compiled.binds
            positional = compiled.positional
            names = tuple(compiled.positiontup or ()) if positional else tuple(binds)
            escaped: Mapping[str, str] = compiled.escaped_bind_names or {}
            processors = tuple(
                _remembering(binds[name].type.dialect_impl(dialect).bind_processor(dialect))
                for name in names
            )
            fixed = {
                name: binds[name].effective_value for name in names if not binds[name].required
            }
            found = _Compiled(
                str(compiled),
                names,
                tuple(escaped.get(name, name) for name in names),
                processors,
                fixed,
                positional,
            )
            self._compiled[dialect.name] = found
            return found

    def run(self, session: Session, **values: Any) -> Any:
        """Executes in the session's transaction; returns the DBAPI cursor (rows, rowcount)."""
        dialect, dbapi = _connection_of(session)
        compiled = self._for(dialect)
        cursor = dbapi.cursor()
        cursor.execute(compiled.sql, compiled.parameters(values))
        return cursor

    def one(self, session: Session, **values: Any) -> tuple[Any, ...] | None:
        cursor = self.run(session, **values)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else tuple(row)

    def count(self, session: Session, **values: Any) -> int:
        """Runs a write and returns how many rows it changed."""
        cursor = self.run(session, **values)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()


_CONNECTION = "prepared.connection"


def _connection_of(session: Session) -> tuple[Dialect, Any]:
    """The dialect and DBAPI connection of the session's current transaction, remembered in
    `session.info` for the transaction's further statements (asking the session each time
    was a fifth of a prepared statement's cost)."""
    transaction = session.get_transaction()
    found = session.info.get(_CONNECTION)
    if found is not None and transaction is not None and found[0] is transaction:
        return found[1], found[2]
    connection = session.connection()
    transaction = session.get_transaction()
    session.info[_CONNECTION] = (transaction, connection.dialect, connection.connection)
    return connection.dialect, connection.connection


def _remembering(process: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """The processor, answering again at once for the value it was given last: a message
    passes the same `now` to most of its statements (a datetime costs two conversions)."""
    if process is None:
        return None
    last: list[tuple[Any, Any]] = [(_NOTHING, None)]

    def run(value: Any) -> Any:
        seen, result = last[0]  # one tuple, replaced whole: safe across threads
        if value is seen:
            return result
        result = process(value)
        last[0] = (value, result)
        return result

    return run


_NOTHING = object()
