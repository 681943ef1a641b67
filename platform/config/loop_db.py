"""The database from the event loop: a few async psycopg connections per loop.

Django's ORM is synchronous: under ASGI every query hops to a thread and back, and each hop
waits for the GIL behind whatever the loop is doing. The hot paths (a device's check-in, a till's
micropay) instead run their few statements here, on the loop, each in autocommit (one statement
is one transaction), prepared on first use. Their SQL is built once from the ORM or from model
metadata (config.model_sql), so it follows the models.

Connections are opened lazily and belong to the loop that made them; unlike psycopg_pool, nothing
runs in the background to outlive a loop. A connection that fails or stalls is dropped (with any
prepared statement a migration may have invalidated), and the next statement opens a new one.
"""

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

import psycopg
from django.db import connections
from psycopg.rows import dict_row

T = TypeVar("T")

# A statement here answers in about a millisecond; one that stalls this long is on a dead
# connection, and everything queued behind it would wait too.
QUERY_TIMEOUT_SECONDS = 3


# Every LoopDatabase with open connections, by loop: a loop's owner closes them before the loop ends
# (config.loop_thread.stop), so that no session outlives it.
_open_by_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.WeakSet]" = (
    weakref.WeakKeyDictionary()
)


async def close_loop_databases() -> None:
    """Close the connections of every LoopDatabase of the running loop."""
    for database in list(_open_by_loop.pop(asyncio.get_running_loop(), ())):
        await database.close()


class LoopDatabase:
    """Up to `size` connections of this event loop; each statement takes one for its duration."""

    def __init__(self, *, application_name: str, size: int = 1) -> None:
        self.application_name = application_name
        self._slots = asyncio.Semaphore(size)
        self._idle: list[psycopg.AsyncConnection] = []
        self._open: set[psycopg.AsyncConnection] = set()

    async def fetchone(self, sql: str, params: list | tuple) -> dict | None:
        return await self._run(sql, params, fetch="one")

    async def fetchall(self, sql: str, params: list | tuple) -> list[dict]:
        return await self._run(sql, params, fetch="all")

    async def execute(self, sql: str, params: list | tuple) -> int:
        """Run one statement; return its row count."""
        return await self._run(sql, params, fetch=None)

    async def copy_rows(self, sql: str, rows: list[list]) -> None:
        """Write `rows` with one COPY ... FROM STDIN (config.model_sql.copy_sql)."""
        async with self._connection() as conn, conn.cursor().copy(sql) as copy:
            for row in rows:
                await copy.write_row(row)

    async def _run(self, sql: str, params: list | tuple, *, fetch: str | None):
        async with self._connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(sql, params)
            if fetch == "one":
                return await cursor.fetchone()
            if fetch == "all":
                return await cursor.fetchall()
            return cursor.rowcount

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A connection of this loop for one statement, connecting included, under the timeout.
        A constraint violation leaves it healthy (autocommit: the statement rolled back alone);
        on any other error, a stall or a cancellation it is replaced, not trusted again."""
        async with self._slots:
            conn = None
            try:
                async with asyncio.timeout(QUERY_TIMEOUT_SECONDS):
                    conn = self._idle.pop() if self._idle else await self._connect()
                    yield conn
            except psycopg.errors.IntegrityError:
                self._idle.append(conn)
                raise
            except BaseException:
                if conn is not None:
                    await self._drop(conn)
                raise
            self._idle.append(conn)

    async def _connect(self) -> psycopg.AsyncConnection:
        params = connections["default"].get_connection_params()
        for django_only in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(django_only, None)
        conn = await psycopg.AsyncConnection.connect(
            autocommit=True,
            prepare_threshold=0,  # prepared at first use: these statements run thousands of times
            application_name=self.application_name,
            **params,
        )
        self._open.add(conn)
        _open_by_loop.setdefault(asyncio.get_running_loop(), weakref.WeakSet()).add(self)
        return conn

    async def _drop(self, conn: psycopg.AsyncConnection) -> None:
        self._open.discard(conn)
        await conn.close()

    async def close(self) -> None:
        self._idle.clear()
        while self._open:
            await self._open.pop().close()


class PerLoop(Generic[T]):
    """One T per event loop, made on first use in that loop: asyncio connections and clients
    belong to the loop that made them (tests and Celery workers run several loops)."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._items: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        if loop not in self._items:
            self._items[loop] = self._factory()
        return self._items[loop]
