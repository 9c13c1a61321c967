"""The worker's part in signing audit checkpoints: every `audit_checkpoint_s` seconds
and once more when it stops, so what it appended is covered by a signature. With a
retention (`audit_retention_days` and `audit_archive_dir`), the same turn moves records
older than the window to the archive (one worker at a time: the folder is locked).

Every worker runs this; a checkpoint is kept only if it extends the latest one kept
(`Store.add_checkpoint`), so workers signing at the same moment keep one between them,
and an unchanged log is not signed again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

from app.api.state import Services
from app.audit.archive import archive_audit
from app.audit.service import sign_checkpoint
from app.errors import ConfigError

__all__ = ["archive_now", "keep_signing", "sign_now"]

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


async def archive_now(services: Services) -> None:
    """Archive what is older than the retention window; failures are logged."""
    s = services.settings
    window = (
        timedelta(seconds=s.audit_retention_s)
        if s.audit_retention_s > 0
        else timedelta(days=s.audit_retention_days)
    )
    if window <= timedelta(0) or not s.audit_archive_dir:
        return
    now = services.clock.now()
    keys = services.audit_keys
    try:
        result = await archive_audit(
            services.store,
            Path(s.audit_archive_dir),
            now - window,
            signer=(keys.name, keys.private),
            now=now,
        )
    except ConfigError as exc:  # another worker is at it, or the archive needs a look
        log.warning("audit archive skipped: %s", exc)
        return
    except Exception as exc:
        log.error("audit archive failed: %s", exc)
        return
    if result.segment is not None:
        log.info("archived %s audit records into %s", result.records, result.written)


async def keep_signing(services: Services) -> None:
    interval = services.settings.audit_checkpoint_s
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        await archive_now(services)
        await sign_now(services)
