"""QR codes for proofs: the QR text is exactly the compact JWS.

Error correction M, byte mode, smallest version that fits. Rendering is on the issuance
hot path, so it is tuned (see bench/qr.py for the figures):

* a fixed mask pattern (3): choosing "the best" of 8 masks means building and scoring
  8 candidate symbols in pure Python, ~4/5 of a general encoder's time. Every mask
  yields a standard symbol any decoder reads; the penalty score only tunes robustness
  against finder-like patterns, and a JWS is base64url noise that rarely forms them;
* level M exactly: no "boost" to a higher level when the data happens to fit, because
  the spec fixes M and the version we report must be M's;
* ASCII text (every JWS) goes through `_qrencode`, which caches everything that depends
  only on the version; other text falls back to segno with the same settings;
* SVG and PNG are written straight from the module matrix: one ``<path>`` with one
  subpath per row built from a table of 8-module patterns, and a 1-bit greyscale PNG;
* when no image is asked for, the version follows from the length alone.
"""

from __future__ import annotations

import struct
import zlib

import msgspec
import segno

from app.tokens._qrencode import MASK, encode_matrix, version_for

__all__ = ["QUIET_ZONE", "QRImage", "png_from_matrix", "qr_matrix", "render_qr", "svg_from_matrix"]

QUIET_ZONE = 4
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class QRImage(msgspec.Struct, frozen=True):
    """A rendered QR code: its version and the requested renderings."""

    version: int
    svg: str | None
    png: bytes | None


def qr_matrix(text: str) -> tuple[int, list[bytes]]:
    """Encode `text`; return the version and the module rows (0/1 bytes, no quiet zone).

    Raises:
        ValueError: the text does not fit a version-40 symbol at level M.
    """
    if text.isascii():
        return encode_matrix(text)
    try:
        symbol = segno.make(text, error="m", boost_error=False, mode="byte", mask=MASK, micro=False)
    except segno.DataOverflowError as exc:
        raise ValueError("text too long for a QR code at error correction M") from exc
    return int(symbol.version), [bytes(row) for row in symbol.matrix]


def _byte_path(byte: int) -> str:
    """Relative path for 8 modules (bit 7 leftmost): ``h`` over dark, ``m`` over light.

    Ends 8 modules to the right of where it starts, so fragments simply concatenate;
    a run split across two bytes is drawn as ``h2h3``, one continuous stroke.
    """
    out, i = [], 0
    while i < 8:
        dark = byte >> (7 - i) & 1
        j = i
        while j < 8 and (byte >> (7 - j) & 1) == dark:
            j += 1
        out.append(f"h{j - i}" if dark else f"m{j - i} 0")
        i = j
    return "".join(out)


_BYTE_PATHS = tuple(_byte_path(b) for b in range(256))
_TO_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


def svg_from_matrix(matrix: list[bytes], *, border: int = QUIET_ZONE) -> str:
    """Draw a module matrix as an SVG with one path of horizontal runs.

    Integer module units with the quiet zone in the viewBox. Each row is one subpath
    ``M border y.5`` stroked 1 unit wide through the row's middle, continued by
    relative ``h n`` (dark) and ``m n 0`` (light) moves taken, 8 modules at a time,
    from a table of all 256 patterns: no Python work per run of modules.
    """
    width = len(matrix[0]) if matrix else 0
    size = len(matrix) + 2 * border
    pad = b"\x00" * (-width % 8)
    step = (width + 7) // 8
    digits = b"".join([row + pad for row in matrix]).translate(_TO_DIGITS)
    packed = int(digits, 2).to_bytes(step * len(matrix), "big") if digits else b""
    paths = _BYTE_PATHS.__getitem__
    rows = [
        f"M{border} {y + border}.5" + "".join(map(paths, packed[y * step : (y + 1) * step]))
        for y in range(len(matrix))
    ]
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path stroke="#000" stroke-width="1" d="{"".join(rows)}"/></svg>'
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_from_matrix(matrix: list[bytes], *, scale: int = 4, border: int = QUIET_ZONE) -> bytes:
    """Draw a module matrix as a 1-bit greyscale PNG, `scale` pixels per module."""
    side = (len(matrix) + 2 * border) * scale
    light = "1" * (border * scale)
    pad = "1" * (-side % 8)  # each PNG scanline ends on a byte boundary
    blank = b"\x00" + int("1" * side + pad, 2).to_bytes((side + 7) // 8, "big")
    lines = [blank] * (border * scale)
    for row in matrix:
        # 0 is black in greyscale: dark module -> "0" * scale
        bits = row.translate(bytes.maketrans(b"\x00\x01", b"10")).decode("ascii")
        pixels = light + "".join(c * scale for c in bits) + light + pad
        line = b"\x00" + int(pixels, 2).to_bytes((side + 7) // 8, "big")
        lines.extend([line] * scale)
    lines.extend([blank] * (border * scale))
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(lines), 6))
        + _chunk(b"IEND", b"")
    )


def render_qr(text: str, *, svg: bool = True, png: bool = False, scale: int = 4) -> QRImage:
    """Render `text` as a QR code (EC level M, byte mode, smallest version).

    Args:
        text: the QR payload (the compact JWS).
        svg: produce an SVG document.
        png: produce a PNG.
        scale: PNG pixels per module (the quiet zone is 4 modules).

    Raises:
        ValueError: the text does not fit a version-40 symbol at level M.
    """
    if not (svg or png) and text.isascii():
        # only the version is wanted: it follows from the length (as in encode_matrix)
        return QRImage(version=version_for(len(text)), svg=None, png=None)
    version, matrix = qr_matrix(text)
    return QRImage(
        version=version,
        svg=svg_from_matrix(matrix) if svg else None,
        png=png_from_matrix(matrix, scale=scale) if png else None,
    )
