"""What an operator with write access to the database can do to the audit log, on each
backend: read and rewrite a chain as stored, drop one, edit the kept checkpoints and the
record of those dropped into the archive.

Test-only helper of `test_audit_tamper.py`; it knows each backend's layout on purpose.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Protocol

import redis
from redis.cluster import RedisCluster

from app.domain.events import GENESIS_HASH
from app.storage.redis.index import pointer
from app.storage.redis.keys import (
    Layout,
    encode_chain_record,
    encode_legacy_chain_record,
    split_chain_record,
    subject_token,
)

#: one stored record: seq, prev, hash, event bytes, and (SQLite) its copied columns
Row = tuple[int, str, str, bytes, tuple[Any, ...]]


class Tamper(Protocol):
    def rows(self, chain: str) -> list[Row]: ...
    def put(self, chain: str, rows: list[Row]) -> None: ...
    def drop_chain(self, chain: str, *, registry: bool = True) -> None: ...
    def notes(self) -> list[bytes]: ...
    def set_notes(self, notes: list[bytes]) -> None: ...
    def set_dropped(self, count: int, last: str) -> None:
        """Rewrite the store's record of the checkpoints `audit archive` dropped."""

    def hide_check(self, chain: str, row: Row) -> None:
        """Make a check vanish from its citizen's verification index."""

    def close(self) -> None: ...


class SqliteTamper:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)

    def rows(self, chain: str) -> list[Row]:
        found = self.db.execute(
            "SELECT seq, prev, hash, event, action, subject FROM audit WHERE chain = ?"
            " ORDER BY seq",
            (chain,),
        ).fetchall()
        return [(s, p, h, bytes(d), (a, subj)) for s, p, h, d, a, subj in found]

    def put(self, chain: str, rows: list[Row]) -> None:
        self.db.execute("DELETE FROM audit WHERE chain = ?", (chain,))
        self.db.executemany(
            "INSERT INTO audit (chain, seq, event, prev, hash, action, subject)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(chain, s, d, p, h, *cols) for s, p, h, d, cols in rows],
        )

    def drop_chain(self, chain: str, *, registry: bool = True) -> None:
        self.db.execute("DELETE FROM audit WHERE chain = ?", (chain,))

    def notes(self) -> list[bytes]:
        return [
            bytes(n) for (n,) in self.db.execute("SELECT note FROM audit_checkpoints ORDER BY n")
        ]

    def set_notes(self, notes: list[bytes]) -> None:
        self.db.execute("DELETE FROM audit_checkpoints")
        self.db.executemany(
            "INSERT INTO audit_checkpoints (note) VALUES (?)", [(n,) for n in notes]
        )

    def set_dropped(self, count: int, last: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO audit_checkpoints_dropped (one, count, last) VALUES (1, ?, ?)",
            (count, last),
        )

    def hide_check(self, chain: str, row: Row) -> None:
        # the one UPDATE of the finding: the record no longer "concerns" its citizen
        self.db.execute(
            "UPDATE audit SET subject = ? WHERE chain = ? AND seq = ?", ("f" * 64, chain, row[0])
        )

    def close(self) -> None:
        self.db.close()


class RedisTamper:
    def __init__(self, url: str) -> None:
        if url.startswith("redis+cluster://"):
            host, port = url.removeprefix("redis+cluster://").split("/")[0].split(":")
            self.r: Any = RedisCluster(host=host, port=int(port))
        else:
            self.r = redis.Redis.from_url(url)
        self.layout = Layout(16)

    @staticmethod
    def label(chain: str) -> str:
        return chain.partition("/")[0]

    def key(self, chain: str) -> str:
        return self.layout.chain_key(self.label(chain), chain)

    def rows(self, chain: str) -> list[Row]:
        out: list[Row] = []
        prev = GENESIS_HASH  # no test here archives before tampering
        for raw in self.r.lrange(self.key(chain), 0, -1):
            seq, stored_prev, digest, data = split_chain_record(raw)
            out.append((seq, stored_prev or prev, digest, data, ()))
            prev = digest
        return out

    def put(self, chain: str, rows: list[Row]) -> None:
        """Rows whose link is the row before them as compact elements (which do not
        store it), others in the earlier layout that keeps it: the store reads both, so
        a forger may write either."""
        self.r.delete(self.key(chain))
        if rows:
            items, before = [], GENESIS_HASH
            for s, p, h, d, _ in rows:
                if p == before:
                    items.append(encode_chain_record(s, h, d))
                else:
                    items.append(encode_legacy_chain_record(s, p, h, d))
                before = h
            self.r.rpush(self.key(chain), *items)
            self.r.sadd(self.layout.chains_key(self.label(chain)), chain)

    def drop_chain(self, chain: str, *, registry: bool = True) -> None:
        self.r.delete(self.key(chain))
        if registry:
            self.r.srem(self.layout.chains_key(self.label(chain)), chain)

    def notes(self) -> list[bytes]:
        return list(self.r.lrange(Layout.CHECKPOINTS, 0, -1))

    def set_notes(self, notes: list[bytes]) -> None:
        self.r.delete(Layout.CHECKPOINTS)
        if notes:
            self.r.rpush(Layout.CHECKPOINTS, *notes)

    def set_dropped(self, count: int, last: str) -> None:
        self.r.set(Layout.CHECKPOINTS_DROPPED, f"{count} {last}")

    def hide_check(self, chain: str, row: Row) -> None:
        from app.domain.events import decode_event

        subject = decode_event(row[3]).subject
        assert subject is not None
        label = self.label(chain)
        key, field = self.layout.index_key(label, subject), subject_token(subject)
        packed = self.r.hget(key, field) or b""
        gone = pointer(label, chain, row[0])
        kept, at = [], 0
        while at < len(packed):  # entries: a byte of length, then that many bytes
            entry = packed[at : at + 1 + packed[at]]
            at += len(entry)
            if entry != gone:
                kept.append(entry)
        self.r.hset(key, field, b"".join(kept))

    def close(self) -> None:
        self.r.close()
