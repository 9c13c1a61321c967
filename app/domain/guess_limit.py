"""The guess limit: numeric codes and card numbers cannot be walked.

A verifier organisation (all its credentials together: one per counter or officer
would otherwise multiply the allowance) may look up at most `lookup_failures_per_window`
codes or card numbers that turn out unknown per window. Two properties make that a
limit rather than a hint:

* it holds under any concurrency, on any number of workers: every lookup takes a
  *place* with the store's atomic increment before its answer is known, and at most
  `limit` places exist; a lookup that finds what it looked for gives its place back,
  one that finds nothing keeps it (it is a failure now);
* whether a lookup is answered never depends on what it found: a request that gets no
  place is refused (429) whether its code exists or not, so a burst of guesses cannot
  tell hits from misses beyond the limit.

Places held by lookups still running are not failures: a request that finds every place
taken, but fewer failures than places, waits for a running lookup to end (a few
milliseconds) instead of being refused, so a busy verifier with many lookups at once is
slowed down at most, never turned away, unless it did fail `limit` times. Three rate
counters per verifier and window: places, failures, refusals (the first refusal of a
window is audited; one record per burst, the metrics count each one).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from app.config import Settings
from app.domain.ports import GuessStore
from app.domain.records import AuditEvent, ClientRecord
from app.errors import RateLimited

__all__ = ["GuessLimit"]

#: how long a lookup waits for a place held by a running lookup: tries x pause (~0.2 s)
_TRIES = 50
_PAUSE_S = 0.004


class GuessLimit:
    def __init__(self, store: GuessStore, settings: Settings) -> None:
        self._store = store
        self._window = settings.lookup_window_s
        self._limit = settings.lookup_failures_per_window

    async def take(self, client: ClientRecord, now: datetime, action: str) -> None:
        """A place for one lookup of `client`, before its answer is known.

        Raises:
            RateLimited: `client` failed `limit` lookups in this window, or its running
                lookups kept every place taken for as long as a lookup may wait.
        """
        places, failures = f"lookup:{client.org_id}", f"lookup-failed:{client.org_id}"
        for _ in range(_TRIES):
            if await self._store.hit_rate(places, self._window, now) <= self._limit:
                return
            failed = await self._store.rate_count(failures, self._window, now)
            await self._store.undo_hit(places, self._window, now)
            if failed >= self._limit:
                retry = self._window - int(now.timestamp()) % self._window
                await self._refused(client, now, action)
                raise RateLimited(
                    "too many unknown codes or card numbers; wait and retry",
                    retry_after=max(1, retry),
                )
            await asyncio.sleep(_PAUSE_S)  # a running lookup will give its place back
        await self._refused(client, now, action)
        raise RateLimited("too many lookups at once; retry", retry_after=1)

    async def give_back(self, client: ClientRecord, now: datetime) -> None:
        """The lookup found what it looked for: its place is free again."""
        await self._store.undo_hit(f"lookup:{client.org_id}", self._window, now)

    async def failed(self, client: ClientRecord, now: datetime) -> None:
        """The lookup found nothing: it keeps its place, and counts as a failure."""
        await self._store.hit_rate(f"lookup-failed:{client.org_id}", self._window, now)

    async def _refused(self, client: ClientRecord, now: datetime, action: str) -> None:
        """Count a refusal; the window's first is audited."""
        refusals = await self._store.hit_rate(f"lookup-refused:{client.org_id}", self._window, now)
        if refusals == 1:
            await self._store.append_audit(
                AuditEvent(
                    at=now,
                    actor=client.id,
                    action="rate_limited",
                    type="parking_card" if action == "card_check" else None,
                    result="refused",
                    org=client.name,
                )
            )
