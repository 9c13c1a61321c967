"""The Lua scripts of a single Redis node over a few multiplexed connections.

Every hot operation of the store is one script (`EVALSHA`). redis-py's asyncio client
spends about 69 µs of CPU on each (measured at 32 concurrent calls: pool checkout,
command objects, retry and timeout layers, response callbacks): a fifth of an online
verification. Here a call is one `hiredis.pack_command`, one `transport.write` and one
future resolved by the connection's hiredis reader, about 13 µs; calls from all
requests of the worker share a few connections, and Redis answers each connection in
order, so replies are matched to callers by position.

Failure behaviour is the one of the rest of the store: a refused or lost connection, a
timeout (`timeout_s`, connecting included) or an error reply becomes `StoreUnavailable`
at once. A timed-out connection is dropped (the position of later replies on it is no
longer known) and the next call connects afresh; so does every call after Redis
restarted. NOSCRIPT (a restarted or flushed server) loads the script and runs it again.

Timeouts are kept per connection, not per call: replies come in order, so the oldest
call waiting is the first to be late, and one timer watching it does the work of an
`asyncio.timeout` around every call (about 4 µs each, a timer handle created and
cancelled per call).

Used for single nodes without TLS; a cluster (slot routing) or TLS keeps redis-py.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis

from app.errors import StoreUnavailable
from app.storage.redis.conn import RedisUrl

__all__ = ["MuxScripts"]

Arg = str | int | bytes


class _Connection(asyncio.Protocol):
    def __init__(self, timeout_s: float) -> None:
        self._reader = hiredis.Reader()
        self._timeout_s = timeout_s
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._deadlines: deque[float] = deque()  # loop time by which each must be answered
        self._watchdog: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None
        # commands packed during this turn of the event loop after its first one
        # (written at once), written together at its end
        self._outgoing: list[bytes] = []
        self._turn_open = False
        self.broken = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's is not a subclass of asyncio.Transport)
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                future = self._waiting.popleft()
                self._deadlines.popleft()
                if not future.done():  # a caller that gave up still had its place
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:
            self._fail(f"protocol error: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"connection lost: {exc}" if exc else "connection closed")

    def _fail(self, why: str) -> None:
        self.broken = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._deadlines.clear()
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(StoreUnavailable(f"Redis store unavailable: {why}"))
        if self._transport is not None:
            self._transport.abort()

    def call(self, args: Sequence[Arg]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self.broken or self._transport is None:
            future.set_exception(StoreUnavailable("Redis store unavailable: not connected"))
            return future
        # packed first: an argument that cannot be packed raises before a place is taken
        # the stubs type the argument as a 1-tuple; any length is packed
        packed = hiredis.pack_command(tuple(args))  # type: ignore[arg-type]
        self._waiting.append(future)
        self._deadlines.append(loop.time() + self._timeout_s)
        if self._watchdog is None:
            self._watchdog = loop.call_at(self._deadlines[0], self._watch)
        # The first call of a turn of the event loop is sent at once: Redis can work on
        # it while this turn goes on (a batch chunk is prepared while the previous one
        # is written). Later calls of the same turn are sent together when it ends: the
        # requests that reach the store at once share one send() here and one read, one
        # reply write (and, with appendfsync always, one fsync) in redis-server.
        if self._turn_open:
            self._outgoing.append(packed)
        else:
            self._turn_open = True
            loop.call_soon(self._flush)
            self._transport.write(packed)
        return future

    @property
    def in_turn(self) -> bool:
        """Whether a call was made on this connection in this turn of the event loop."""
        return self._turn_open

    def _watch(self) -> None:
        """Fail the connection if its oldest call is late, else watch the new oldest."""
        self._watchdog = None
        if not self._deadlines:
            return
        loop = asyncio.get_running_loop()
        if self._deadlines[0] <= loop.time():
            self._fail("timed out")  # later replies on it could no longer be matched
        else:
            self._watchdog = loop.call_at(self._deadlines[0], self._watch)

    def _flush(self) -> None:
        self._turn_open = False
        if not self._outgoing:
            return
        data = b"".join(self._outgoing)
        self._outgoing.clear()
        if not self.broken and self._transport is not None:
            self._transport.write(data)

    def drop(self) -> None:
        self._fail("dropped")


class MuxScripts:
    """`Scripts.run` for one Redis node: `size` connections, opened when first needed."""

    def __init__(
        self, url: RedisUrl, sources: dict[str, str], timeout_s: float, size: int = 4
    ) -> None:
        self._url = url
        self._sources = sources
        # the script's name in Redis's script cache, as Redis computes it: not a security use
        self._shas = {
            name: hashlib.sha1(src.encode(), usedforsecurity=False).hexdigest()
            for name, src in sources.items()
        }
        self._timeout_s = timeout_s
        self._slots: list[_Connection | None] = [None] * size
        self._locks = [asyncio.Lock() for _ in range(size)]
        self._next = 0

    async def run(self, name: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        conn = self._open_connection() or await self._connection()
        reply = await conn.call(("EVALSHA", self._shas[name], len(keys), *keys, *args))
        if not isinstance(reply, hiredis.ReplyError):
            return reply
        if str(reply).startswith("NOSCRIPT"):
            await self._checked(conn.call(("SCRIPT", "LOAD", self._sources[name])))
            reply = await conn.call(("EVALSHA", self._shas[name], len(keys), *keys, *args))
        return self._checked_reply(reply)

    async def _checked(self, future: asyncio.Future[Any]) -> Any:
        return self._checked_reply(await future)

    @staticmethod
    def _checked_reply(reply: Any) -> Any:
        if isinstance(reply, hiredis.ReplyError):  # OOM, LOADING, READONLY, BUSY, …
            raise StoreUnavailable(f"Redis store unavailable: {reply}")
        return reply

    def _open_connection(self) -> _Connection | None:
        """The connection for this call if it is open (the usual case: no coroutine to
        create and await, two per issuance), else None with `_next` at the slot to open.

        The calls of one turn of the event loop share a connection (the one the turn's
        first call took), so they share its send() at the end of the turn; the next
        turn takes the next connection."""
        conn = self._slots[self._next]
        if conn is not None and conn.in_turn and not conn.broken:
            return conn
        slot = self._next = (self._next + 1) % len(self._slots)
        conn = self._slots[slot]
        return conn if conn is not None and not conn.broken else None

    async def _connection(self) -> _Connection:
        """Open the connection of slot `_next` (after `_open_connection` found it closed)."""
        slot = self._next
        async with self._locks[slot]:
            conn = self._slots[slot]
            if conn is None or conn.broken:
                conn = await self._open()
                self._slots[slot] = conn
        return conn

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout_s):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self._timeout_s), self._url.host, self._url.port
                )
        except TimeoutError:
            raise StoreUnavailable("Redis store unavailable: timed out connecting") from None
        except OSError as exc:
            raise StoreUnavailable(f"Redis store unavailable: {exc}") from exc
        try:
            if self._url.password is not None:
                auth: tuple[Arg, ...] = ("AUTH", self._url.password)
                if self._url.username is not None:
                    auth = ("AUTH", self._url.username, self._url.password)
                await self._checked(conn.call(auth))
            if self._url.db:
                await self._checked(conn.call(("SELECT", self._url.db)))
        except BaseException:
            conn.drop()
            raise
        return conn

    def close(self) -> None:
        for conn in self._slots:
            if conn is not None:
                conn.drop()
        self._slots = [None] * len(self._slots)
