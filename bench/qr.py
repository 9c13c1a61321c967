"""QR rendering benchmark: qrcode defaults vs segno defaults vs app.tokens.render_qr.

Run from the repository root: ``python bench/qr.py [--n 50]``. Uses a realistic
~450-character token (random base64url, shaped like a compact JWS) and prints, for
each renderer, ms per symbol, symbols per second and the speed-up over qrcode.
"""

from __future__ import annotations

import argparse
import io
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

import qrcode
import qrcode.image.svg
import segno

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.tokens import render_qr


def token(length: int = 450) -> str:
    text = secrets.token_urlsafe(length)[:length]
    return f"{text[:74]}.{text[75:364]}.{text[365:]}"


def per_symbol_ms(fn: Callable[[], object], n: int) -> float:
    fn()  # warm caches (our per-version layout, imports)
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=30, help="symbols per renderer")
    n = parser.parse_args().n
    text = token()

    def qrcode_svg() -> object:
        return qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage).to_string()

    def qrcode_png() -> object:
        buf = io.BytesIO()
        qrcode.make(text).save(buf)
        return buf.getvalue()

    def segno_svg() -> object:
        buf = io.BytesIO()
        segno.make(text).save(buf, kind="svg")
        return buf.getvalue()

    def segno_png() -> object:
        buf = io.BytesIO()
        segno.make(text).save(buf, kind="png", scale=4)
        return buf.getvalue()

    rows = [
        ("qrcode defaults  SVG", qrcode_svg, "svg"),
        ("qrcode defaults  PNG", qrcode_png, "png"),
        ("segno defaults   SVG", segno_svg, "svg"),
        ("segno defaults   PNG", segno_png, "png"),
        ("render_qr        SVG", lambda: render_qr(text), "svg"),
        ("render_qr        PNG", lambda: render_qr(text, svg=False, png=True), "png"),
        ("render_qr    SVG+PNG", lambda: render_qr(text, png=True), "both"),
    ]
    results = {name: per_symbol_ms(fn, n) for name, fn, _ in rows}
    base = {"svg": results[rows[0][0]], "png": results[rows[1][0]], "both": results[rows[0][0]]}
    version = render_qr(text, svg=False).version
    print(f"token {len(text)} chars, version {version} at EC M (qrcode may pick another), n={n}")
    print(f"{'renderer':22} {'ms/symbol':>10} {'symbols/s':>10} {'vs qrcode':>10}")
    for name, _, kind in rows:
        ms = results[name]
        print(f"{name:22} {ms:10.2f} {1000 / ms:10.0f} {base[kind] / ms:9.1f}x")


if __name__ == "__main__":
    main()
