"""Where the store's SQL runs: each store operation is one sync function over a SQLAlchemy
`Connection` (users.py, sessions.py, keys.py), run as one unit (one transaction) in one hop.

Why: through the async engine every statement is a separate trip. On SQLite (aiosqlite) each
`await` is a queue put, a worker-thread wake-up and a callback back onto the loop, well over
a dozen per login, and every millisecond the event loop spends there is taken from the
password-hashing threads on a small machine (bench/RESULTS.md). Here:

- A SQLite file: the whole operation runs on a small thread pool with a sync pysqlite engine,
  one hop per operation, so SQLAlchemy's statement and row processing stay off the event
  loop. Writes have a pool of their own with one thread: SQLite lets one writer in at a time
  anyway, and queueing this process's writers there spares them SQLite's busy handler, which
  waits by sleeping.
- PostgreSQL (and in-memory SQLite, which lives in one connection): the operation runs on the
  async engine with `AsyncConnection.run_sync`, on the loop, through one greenlet instead of
  one per statement; there is no sync driver to put on a thread.

`engine` is always the async engine of the database, for tests and tools that want one (for a
SQLite file it is made on first use: serving does not need it).

`read`, `write` and `write_exclusive` are also where an unreachable database becomes
`ProviderUnavailable` (503 with Retry-After): every store operation passes through them, so no
driver error about the connection reaches a handler as a 500. Errors that are answers
(IntegrityError and friends) or our bugs pass through unchanged. On PostgreSQL each operation
is bounded in time (connecting, each statement, and the whole operation), so a hung server
fails requests within seconds instead of holding them (docs/security.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, TypeVarTuple

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url

from auth_backend.errors import ProviderUnavailable
from auth_backend.threads import run_in_thread

if TYPE_CHECKING:
    # Imported where an async engine is made: sqlalchemy.ext.asyncio brings in the ORM
    # (about 7 MB and 80 ms of start-up), which a SQLite file never uses while serving.
    from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

_R = TypeVar("_R")
_Ts = TypeVarTuple("_Ts")

# Execution option naming the SQLite BEGIN mode of a transaction (see _begin_sqlite).
SQLITE_BEGIN = "sqlite_begin"
# Readers on SQLite: WAL lets them run beside the writer. Few, because they share the cores
# with the hashing threads and each operation is short.
SQLITE_READER_THREADS = 2
SQLITE_BUSY_TIMEOUT_SECONDS = 30
# Defaults of DATABASE_CONNECT_TIMEOUT and DATABASE_STATEMENT_TIMEOUT (settings.py).
DEFAULT_CONNECT_TIMEOUT_SECONDS = 3.0
DEFAULT_STATEMENT_TIMEOUT_SECONDS = 5.0
# SQLSTATE classes that mean "no usable server" rather than "this statement is wrong":
# 08 connection exception, 53 insufficient resources (too many connections), 57P operator
# intervention (shutting down, starting up, crash recovery).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")
UNAVAILABLE_DETAIL = "The user database does not answer."


_PING = sa.text("SELECT 1")


def ping(connection: Connection) -> None:
    """The cheapest statement that proves the database answers."""
    connection.execute(_PING)


# Every engine is made with hide_parameters: a failed statement's exception (and so any log
# line or traceback made from it) names the statement but never its values, which include
# password hashes and refresh-token hashes.


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be reached or used right now (as opposed to
    an answer, such as a unique-key violation, or a bug in a statement)."""
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError):
        return True
    if isinstance(error, sa.exc.DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None)
        return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
    return isinstance(error, OSError | TimeoutError)


@asynccontextmanager
async def unavailable_on_failure(timeout_seconds: float | None = None) -> AsyncIterator[None]:
    """Turn the connection-class failures of the enclosed operation into ProviderUnavailable,
    and bound it to `timeout_seconds` (None: unbounded)."""
    try:
        async with asyncio.timeout(timeout_seconds):
            yield
    except Exception as error:
        if not is_unavailable(error):
            raise
        # The class and the driver's own message: statements' parameters are never in it
        # (hide_parameters, below), and an unreachable server's message names no data.
        cause = getattr(error, "orig", None) or error
        message = str(cause).splitlines()[0] if str(cause) else ""
        logger.warning(
            "the user database is unavailable: %s%s",
            type(cause).__name__,
            f": {message[:200]}" if message else "",
        )
        raise ProviderUnavailable(UNAVAILABLE_DETAIL) from error


class Database(Protocol):
    """Runs store operations; `engine` is the async engine of the same database."""

    @property
    def engine(self) -> AsyncEngine: ...

    async def read(self, operation: Callable[[Connection, *_Ts], _R], *args: *_Ts) -> _R:
        """Run `operation`, which must only read, and in one statement: SQLite runs reads in
        autocommit, where each statement sees its own snapshot."""

    async def write(self, operation: Callable[[Connection, *_Ts], _R], *args: *_Ts) -> _R:
        """Run `operation` in a transaction committed when it returns, rolled back if it raises."""

    async def write_exclusive(self, operation: Callable[[Connection, *_Ts], _R], *args: *_Ts) -> _R:
        """Like `write`, with SQLite's write lock taken at BEGIN (BEGIN IMMEDIATE)."""

    async def dispose(self) -> None:
        """Close the pooled connections; new ones open when next needed."""

    async def aclose(self) -> None:
        """Close the pooled connections and stop the threads, for good."""


def open_database(
    database_url: str,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS,
) -> Database:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415 (see above)

        engine = create_async_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=10,
            # A full pool waits no longer than a new connection may take.
            pool_timeout=connect_timeout,
            hide_parameters=True,
            # asyncpg: `timeout` bounds connecting, `command_timeout` every statement
            # (pre-ping, BEGIN, COMMIT and ROLLBACK included).
            connect_args={"timeout": connect_timeout, "command_timeout": statement_timeout},
        )
        # Reads are single statements: without BEGIN and ROLLBACK they take one round trip.
        return AsyncDatabase(
            engine,
            reads=engine.execution_options(isolation_level="AUTOCOMMIT"),
            # The whole operation: a checkout that connects, then its statements.
            timeout_seconds=connect_timeout + statement_timeout,
        )
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return SqliteDatabase(url)
    # An in-memory database lives in one connection: a second engine would see another one,
    # and two operations at once (a request and the outbox's worker) must take turns on it.
    return AsyncDatabase(_sqlite_engine(url), one_at_a_time=True)


def _sqlite_engine(url: URL) -> AsyncEngine:
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415 (see the imports)

    engine = create_async_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}, hide_parameters=True
    )
    event.listen(engine.sync_engine, "connect", _tune_sqlite)
    event.listen(engine.sync_engine, "begin", _begin_sqlite)
    return engine


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin: the module
    # never opens one before DDL, which would leave migrations non-transactional.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    # Foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers and one writer work at once. The mode is stored in the file, so it is
    # switched once; a connection that loses the race to switch it finds it switched.
    cursor.execute("PRAGMA journal_mode")
    if cursor.fetchone()[0].lower() != "wal":
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            logger.debug("another connection is switching the SQLite file to WAL")
    cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front; a deferred transaction that reads and then
    # writes can fail at once with "database is locked" instead of waiting its turn.
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


class AsyncDatabase:
    """PostgreSQL (and in-memory SQLite): operations run on the loop via `run_sync`."""

    def __init__(
        self,
        engine: AsyncEngine,
        reads: AsyncEngine | None = None,
        timeout_seconds: float | None = None,
        *,
        one_at_a_time: bool = False,
    ) -> None:
        self._engine = engine
        # The engine reads go through: `engine` itself, or a view of its pool with options.
        self._reads = reads or engine
        self._timeout = timeout_seconds
        self._turns: asyncio.Lock | contextlib.nullcontext[None] = (
            asyncio.Lock() if one_at_a_time else contextlib.nullcontext()
        )

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def read(self, operation: Callable[[Connection, *_Ts], _R], *args: *_Ts) -> _R:
        # In a transaction, closing the connection rolls back what the first statement began.
        async with (
            self._turns,
            unavailable_on_failure(self._timeout),
            self._reads.connect() as connection,
        ):
            return await connection.run_sync(operation, *args)

    async def write(self, operation: Callable[[Connection, *_Ts], _R], *args: *_Ts) -> _R:
        async with (
            self._turns,
            unavailable_on_failure(self._timeout),
            self.engine.begin() as connection,
        ):
            return await connection.run_sync(operation, *args)

    async def write_exclusive(self, operation: Callable[[Connection, *_Ts], _R], *args: *_Ts) -> _R:
        async with (
            self._turns,
            unavailable_on_failure(self._timeout),
            self.engine.connect() as connection,
        ):
            exclusive = await connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            async with exclusive.begin():
                return await exclusive.run_sync(operation, *args)

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def aclose(self) -> None:
        await self.engine.dispose()


class SqliteDatabase:
    """A SQLite file: operations run on dedicated threads with a sync pysqlite engine."""

    def __init__(self, url: URL) -> None:
        self._url = url
        # Made on first use only (tests and tools): serving never needs it.
        self._engine: AsyncEngine | None = None
        self._readers = ThreadPoolExecutor(SQLITE_READER_THREADS, thread_name_prefix="sqlite-read")
        # One writer thread: see the module docstring.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-write")
        self._sync = sa.create_engine(
            url.set(drivername="sqlite+pysqlite"),
            # Pooled connections move between the threads, used by one thread at a time.
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            poolclass=sa.QueuePool,
            pool_size=SQLITE_READER_THREADS + 1,
            max_overflow=0,
            hide_parameters=True,
        )
        # Only a pool event: a "begin" listener, as on the async engine, would make every
        # statement on this engine go through SQLAlchemy's event dispatch (a third of the
        # CPU of a sign-in's INSERTs and UPDATEs); _write begins transactions itself.
        event.listen(self._sync, "connect", _tune_sqlite)

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = _sqlite_engine(self._url)
        return self._engine

    # No time bound beyond SQLite's own busy timeout: a thread cannot be interrupted, and a
    # local file does not hang the way a network peer does.
    async def read(self, operation: Callable[[Connection, *_Ts], _R], *args: *_Ts) -> _R:
        async with unavailable_on_failure():
            return await run_in_thread(self._readers, self._read, operation, args)

    async def write(self, operation: Callable[[Connection, *_Ts], _R], *args: *_Ts) -> _R:
        async with unavailable_on_failure():
            return await run_in_thread(self._writer, self._write, "DEFERRED", operation, args)

    async def write_exclusive(self, operation: Callable[[Connection, *_Ts], _R], *args: *_Ts) -> _R:
        async with unavailable_on_failure():
            return await run_in_thread(self._writer, self._write, "IMMEDIATE", operation, args)

    async def dispose(self) -> None:
        await run_in_thread(self._writer, self._sync.dispose)
        if self._engine is not None:
            await self._engine.dispose()

    async def aclose(self) -> None:
        await self.dispose()
        self._readers.shutdown(wait=False)
        self._writer.shutdown(wait=False)

    def _read(self, operation: Callable[..., _R], args: tuple[Any, ...]) -> _R:
        # No BEGIN: the connection is in autocommit (see _tune_sqlite), and every read is one
        # statement, which SQLite runs on one snapshot by itself.
        with self._sync.connect() as connection:
            return operation(connection, *args)

    def _write(self, mode: str, operation: Callable[..., _R], args: tuple[Any, ...]) -> _R:
        with self._sync.connect() as connection, connection.begin():
            # SQLAlchemy's begin() does nothing on the driver, whose commit() and rollback()
            # end whatever transaction is open: this BEGIN is the transaction.
            driver_connection = connection.connection.driver_connection
            assert driver_connection is not None  # a checked-out connection is open
            driver_connection.execute(f"BEGIN {mode}")
            return operation(connection, *args)
