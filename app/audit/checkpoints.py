"""Signed checkpoints of the audit log (pure: no I/O, the time is a parameter).

A checkpoint is a C2SP signed note (c2sp.org/signed-note, the format of Go's checksum
database and Sigstore's logs) whose text follows the line layout of a C2SP
tlog-checkpoint, so tools that read and verify notes read ours:

    statuspass.example/audit                      origin: the log's identity
    1234567                                       records in the log (every lane)
    q2b8…=                                        base64 SHA-256 of the lane lines
    time 2026-12-07T10:15:00Z                     extension lines, in this order
    previous Xq1…=                                base64 SHA-256 of the previous note,
                                                  or `previous none` for the first
    lane 3/9f2c…0 41213 5be0…                     one per non-empty chain: name,
    lane main 12 77aa…                            records, hash of its last record
                                                  (sorted by name)

    — statuspass.example/audit <base64(key id ‖ Ed25519 signature)>

Unlike a transparency log's checkpoint, the third line is not an RFC 6962 Merkle root:
the log is several hash chains (one per Redis lane), and a verifier replays them whole,
so what is committed to is each chain's length and last hash. Each checkpoint names the
one before it (as CloudTrail's digest files do), so a checkpoint deleted from the store
shows as a gap, and the lane list makes a whole deleted lane visible without trusting
any registry kept in the store.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "key_id",
    "note_hash",
    "open_note",
    "parse_verifier_key",
    "sign_note",
    "verifier_key",
]

_ED25519 = b"\x01"
_DASH = "\u2014 "
_LANE = re.compile(r"lane (\S+) (\d+) ([0-9a-f]{64})")
_NAME = re.compile(r"[^\s+]+")


class CheckpointError(ValueError):
    """A checkpoint that does not parse, is not signed by a known key, or fails its
    signature."""


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    origin: str
    time: datetime
    previous: str | None  # base64 SHA-256 of the previous checkpoint's note, if any
    lanes: dict[str, tuple[int, str]]  # chain -> (records, hash of the last one)

    @property
    def size(self) -> int:
        return sum(n for n, _ in self.lanes.values())

    def lane_lines(self) -> list[str]:
        for name in self.lanes:
            if not _NAME.fullmatch(name):
                raise ValueError(f"chain name {name!r} cannot go into a checkpoint")
        return [f"lane {c} {n} {h}" for c, (n, h) in sorted(self.lanes.items()) if n > 0]

    def root(self) -> str:
        lines = "".join(f"{line}\n" for line in self.lane_lines())
        digest = hashlib.sha256(b"statuspass-audit-lanes/1\n" + lines.encode("utf-8"))
        return base64.b64encode(digest.digest()).decode("ascii")

    def text(self) -> str:
        """The note text (what is signed), ending in a newline."""
        if not _NAME.fullmatch(self.origin):
            raise ValueError(f"origin {self.origin!r} must be one word without '+'")
        when = self.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines = [
            self.origin,
            str(self.size),
            self.root(),
            f"time {when}",
            f"previous {self.previous or 'none'}",
            *self.lane_lines(),
        ]
        return "".join(f"{line}\n" for line in lines)


def key_id(name: str, public: Ed25519PublicKey) -> bytes:
    """The 4-byte key ID of c2sp.org/signed-note for an Ed25519 key named `name`."""
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _ED25519 + raw).digest()[:4]


def verifier_key(name: str, public: Ed25519PublicKey) -> str:
    """The key as note verifiers (Go's golang.org/x/mod/sumdb/note) take it:
    `<name>+<key id, hex>+<base64(0x01 ‖ public key)>`."""
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return f"{name}+{key_id(name, public).hex()}+{base64.b64encode(_ED25519 + raw).decode()}"


def parse_verifier_key(vkey: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """(name, key id, public key) of a `verifier_key` line.

    Raises:
        CheckpointError: not an Ed25519 verifier key, or its id does not match it.
    """
    try:
        name, ident, blob = vkey.split("+", 2)  # base64 may hold '+', a name may not
        raw = base64.b64decode(blob, validate=True)
        if raw[:1] != _ED25519 or len(raw) != 33:
            raise ValueError("not an Ed25519 key")
        public = Ed25519PublicKey.from_public_bytes(raw[1:])
    except ValueError as exc:
        raise CheckpointError(f"not a verifier key ({exc})") from exc
    if key_id(name, public).hex() != ident:
        raise CheckpointError(f"verifier key {name}+{ident}: the id does not match the key")
    return name, bytes.fromhex(ident), public


def sign_note(checkpoint: Checkpoint, name: str, private: Ed25519PrivateKey) -> bytes:
    """The signed note of `checkpoint`, signed by the key named `name`."""
    text = checkpoint.text()
    signature = private.sign(text.encode("utf-8"))
    blob = base64.b64encode(key_id(name, private.public_key()) + signature).decode("ascii")
    return f"{text}\n{_DASH}{name} {blob}\n".encode()


def note_hash(note: bytes) -> str:
    """How the next checkpoint names this one: base64 SHA-256 of the whole note."""
    return base64.b64encode(hashlib.sha256(note).digest()).decode("ascii")


def open_note(
    note: bytes, keys: dict[tuple[str, bytes], Ed25519PublicKey]
) -> tuple[Checkpoint, str]:
    """Parse and verify a checkpoint; returns it and the name of the key that signed it.

    `keys` maps (key name, key id) to the public key. Signatures of unknown keys are
    ignored (the signed-note rule), but one known key must have signed, and every known
    key's signature must verify.

    Raises:
        CheckpointError: on anything else.
    """
    try:
        whole = note.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointError("not UTF-8 text") from exc
    text, sep, sigs = whole.partition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise CheckpointError("not a signed note (no blank line before the signatures)")
    text += "\n"
    signer: str | None = None
    for line in sigs[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise CheckpointError("a signature line does not start with an em dash")
        name, _, blob = line[len(_DASH) :].rpartition(" ")
        try:
            raw = base64.b64decode(blob, validate=True)
        except ValueError as exc:
            raise CheckpointError(f"signature of {name!r} is not base64") from exc
        public = keys.get((name, raw[:4]))
        if public is None or len(raw) != 68:
            continue
        try:
            public.verify(raw[4:], text.encode("utf-8"))
        except InvalidSignature as exc:
            raise CheckpointError(f"the signature of {name} (key {raw[:4].hex()}) fails") from exc
        signer = f"{name}+{raw[:4].hex()}"
    if signer is None:
        raise CheckpointError("signed by no known audit key")
    return _parse(text), signer


def _parse(text: str) -> Checkpoint:
    lines = text[:-1].split("\n")
    if len(lines) < 5 or not lines[3].startswith("time ") or not lines[4].startswith("previous "):
        raise CheckpointError("not a Statuspass audit checkpoint (missing lines)")
    lanes: dict[str, tuple[int, str]] = {}
    for line in lines[5:]:
        match = _LANE.fullmatch(line)
        if match is None:
            raise CheckpointError(f"unexpected line {line[:60]!r}")
        lanes[match[1]] = (int(match[2]), match[3])
    try:
        when = datetime.strptime(lines[3][5:], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise CheckpointError("its time line does not parse") from exc
    previous = lines[4][len("previous ") :]
    checkpoint = Checkpoint(
        origin=lines[0], time=when, previous=None if previous == "none" else previous, lanes=lanes
    )
    # one spelling only: what was signed must be exactly what we would have written
    try:
        canonical = checkpoint.text()
    except ValueError as exc:
        raise CheckpointError(str(exc)) from exc
    if canonical != text:
        raise CheckpointError("size, root or layout does not match its lanes")
    return checkpoint
