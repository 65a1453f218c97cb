"""Engines and sessions for SQLite (embedded default) and PostgreSQL (several instances).

SQLite runs in WAL mode with a busy timeout, and every transaction starts with
BEGIN IMMEDIATE: a writer takes the write lock up front instead of failing half-way with
"database is locked" when it upgrades from a read. synchronous=FULL, because a gateway that
got our 200 never sends that callback again: a commit must survive a power cut, and batching
the callbacks pays for the fsync.

`one_statement` is the exception, for hot paths: a lone statement is its own transaction
(autocommit), atomic and as durable as any commit. SQLite takes the write lock of a lone
INSERT/UPDATE at its first step, so there is no upgrade to fail, and holds it for that step
only; inside BEGIN IMMEDIATE ... COMMIT it is held across several trips between the event
loop and aiosqlite's thread, each as long as the loop is busy, and writers queue behind that.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.text import storable_json

# What a unit of work may raise that is worth trying again: the database busy, locked or
# gone for a moment, the network to it, a timeout. The callback route answers these with 503.
TRANSIENT: Final[tuple[type[Exception], ...]] = (DBAPIError, OSError, TimeoutError)

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
ONE_STATEMENT: Final = "checkout_one_statement"  # execution option: no BEGIN on SQLite

Sessions = async_sessionmaker[AsyncSession]


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, pool_size: int = 5, readonly: bool = False) -> AsyncEngine:
    """`readonly` on SQLite: deferred BEGIN, so readers never queue behind the writer."""
    if not is_sqlite(url):
        return create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            json_serializer=storable_json,
        )
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=0, json_serializer=storable_json
    )
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    begin = _sqlite_on_begin_deferred if readonly else _sqlite_on_begin
    event.listen(engine.sync_engine, "begin", begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    if not connection.get_execution_options().get(ONE_STATEMENT):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_on_begin_deferred(connection: Any) -> None:
    if not connection.get_execution_options().get(ONE_STATEMENT):
        connection.exec_driver_sql("BEGIN")


def make_sessions(engine: AsyncEngine) -> Sessions:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def core_transaction(sessions: Sessions) -> AsyncIterator[AsyncConnection]:
    """`transaction` on a bare connection of the same engine (same BEGIN, commit or rollback),
    for Core statements on hot paths: the ORM session's bookkeeping costs more than a small
    statement does."""
    engine = sessions.kw["bind"]
    async with engine.begin() as connection:
        yield connection


@asynccontextmanager
async def one_statement(sessions: Sessions) -> AsyncIterator[AsyncConnection]:
    """A connection for exactly one statement, which commits on its own (see the module's
    docstring). Two statements here would be two transactions: use `transaction` for that."""
    engine = sessions.kw["bind"]
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            await connection.execution_options(**{ONE_STATEMENT: True})
        else:  # asyncpg: no BEGIN and COMMIT round trips
            await connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection
        await connection.commit()


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_sync(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`. Runs its own event loop: call from a thread or the CLI."""
    command.upgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade_sync, url, revision)


async def schema_problem(url: str) -> str | None:
    """Why a command that only reads cannot use this database as it is, or None.

    It neither creates an SQLite file nor migrates: that is `db upgrade`'s (and `run`'s)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:" and not await asyncio.to_thread(_exists, database):
            return "there is no database file yet"
    engine = make_engine(url, pool_size=1, readonly=True)
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    if current is None:
        return "its schema is not set up yet"
    if current != head:
        return f"its schema is at revision {current}, this version needs {head}"
    return None


def _exists(path: str) -> bool:
    return Path(path).exists()
