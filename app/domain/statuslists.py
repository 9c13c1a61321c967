"""Publishing status lists: signed `statuslist+jwt` tokens, cached per worker.

A list is rebuilt from the store at most every `ttl/4` seconds and served from memory in
between, so a revocation shows in the published list within `ttl` (a verifier caches a
list for `max-age` = the time left of `ttl` since the build). Building (2**20 entries,
256 KiB, compressed and signed) runs on a worker thread and one build at a time per list;
requests meanwhile get the previous token, so publishing never stalls them.

`iat` is the time of the build that signed the token, unrounded: an offline verifier
reports a list's age from it, and a list fetched seconds ago must not read as an hour
old. Workers sign at different moments, so their tokens differ in `iat` while saying the
same thing; the ETag names what they say, not when: the content's hash and the
*generation*, the half of the `exp` lifetime the build fell in. It is weak (`W/`, "the
same meaning"), the same in every worker, so a 304 works whichever worker answers. The
generation in it makes the ETag change before a cached token can expire: a verifier
revalidating with 304s would otherwise keep a token past its `exp` forever.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import datetime

import msgspec

from app.config import Settings
from app.domain.ports import StatusLists
from app.tokens import SigningKey, sign_status_list

__all__ = ["PublishedList", "StatusListPublisher"]


class PublishedList(msgspec.Struct, frozen=True):
    token: bytes
    etag: str
    iat: int
    built_at: float  # epoch seconds of the build (from the clock), for max-age


class StatusListPublisher:
    def __init__(
        self, store: StatusLists, settings: Settings, signing_key: Callable[[], SigningKey]
    ) -> None:
        self._store = store
        self._settings = settings
        self._signing_key = signing_key
        self._cache: dict[str, PublishedList] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.refresh_s = max(1.0, settings.status_list_ttl_s / 4)

    def max_age(self, published: PublishedList, now: datetime) -> int:
        age = now.timestamp() - published.built_at
        return max(0, int(self._settings.status_list_ttl_s - age - self.refresh_s))

    def fresh(self, list_id: str, now: datetime) -> PublishedList | None:
        """The cached token while it needs no rebuild (the common case, no await)."""
        cached = self._cache.get(list_id)
        if cached is not None and now.timestamp() - cached.built_at < self.refresh_s:
            return cached
        return None

    async def get(self, list_id: str, now: datetime) -> PublishedList | None:
        found = self.fresh(list_id, now)
        if found is not None:
            return found
        cached = self._cache.get(list_id)
        lock = self._locks.setdefault(list_id, asyncio.Lock())
        if cached is not None and lock.locked():
            return cached  # someone is rebuilding: serve the previous version meanwhile
        async with lock:
            again = self._cache.get(list_id)
            if again is not None and now.timestamp() - again.built_at < self.refresh_s:
                return again
            return await self._build(list_id, now)

    async def _build(self, list_id: str, now: datetime) -> PublishedList | None:
        packed = await self._store.status_list_bytes(list_id)
        if packed is None:
            # ids come from URLs: a lock kept for every id anyone asked for would let
            # requests for made-up lists grow the worker without bound
            self._locks.pop(list_id, None)
            return None
        loop = asyncio.get_running_loop()
        digest = await loop.run_in_executor(None, lambda: hashlib.sha256(packed).hexdigest())
        iat = int(now.timestamp())
        generation = iat // max(1, self._settings.status_list_exp_s // 2)
        key = self._signing_key()
        uri = self._settings.status_list_base + list_id
        exp = iat + self._settings.status_list_exp_s
        ttl = self._settings.status_list_ttl_s
        token = await loop.run_in_executor(
            None, lambda: sign_status_list(packed, uri=uri, key=key, iat=iat, exp=exp, ttl=ttl)
        )
        published = PublishedList(
            token=token.encode("ascii"),
            etag=f'W/"{digest[:32]}-{generation}"',
            iat=iat,
            built_at=now.timestamp(),
        )
        self._cache[list_id] = published
        return published

    def last_published(self, list_id: str) -> PublishedList | None:
        """The last token built, even if old: served when the store is down."""
        return self._cache.get(list_id)
