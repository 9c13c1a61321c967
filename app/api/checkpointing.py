"""The worker's part in signing audit checkpoints: every `audit_checkpoint_s` seconds
and once more when it stops, so what it appended is covered by a signature.

Every worker runs this; a checkpoint is kept only if it extends the latest one kept
(`Store.add_checkpoint`), so workers signing at the same moment keep one between them,
and an unchanged log is not signed again.
"""

from __future__ import annotations

import asyncio
import logging

from app.api.state import Services
from app.domain.audit import sign_checkpoint

__all__ = ["keep_signing", "sign_now"]

log = logging.getLogger("statuspass.audit")


async def sign_now(services: Services) -> None:
    """Sign a checkpoint now; a failure is logged, never raised (the store may be gone
    at shutdown: the next worker's checkpoint covers the records)."""
    keys = services.audit_keys
    try:
        note = await sign_checkpoint(services.store, keys.name, keys.private, services.clock.now())
    except Exception as exc:
        log.error("could not sign an audit checkpoint: %s", exc)
        return
    if note is not None:
        size = note.split(b"\n", 2)[1].decode("ascii", "replace")
        log.info("signed audit checkpoint of %s records", size)


async def keep_signing(services: Services) -> None:
    interval = services.settings.audit_checkpoint_s
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        await sign_now(services)
