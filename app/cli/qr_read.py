"""Reading a proof's token back from a QR image: PNG, JPEG, … and the service's own SVG.

Bitmaps go to zxing-cpp through Pillow. An SVG is vector text that no barcode decoder
reads, so the SVG that `app.tokens.qr.svg_from_matrix` draws (and any SVG drawn the same
way: one stroked path of horizontal runs, one unit per module, as segno draws them too)
is turned back into its module grid here and rasterised, then decoded like a bitmap.
That inverse is a few lines because the drawing is: rows `M x y.5`, then `h n` over dark
modules and `m n 0` over light ones. Anything else in an SVG is refused with a sentence
that says to export a PNG, rather than guessed at.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from app.cli.errors import UserError, describe_os_error

__all__ = ["grid_from_svg", "token_from_image"]

#: pixels per module when an SVG is rasterised for the decoder
_SCALE = 4
#: the largest symbol (version 40) is 177 modules, plus a quiet zone
_MAX_SIDE = 400
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TOKENS = re.compile(rf"([A-Za-z])|({_NUMBER})")
_PATH = re.compile(r"<path\b([^>]*)>", re.S)
_ATTR = re.compile(r"""([\w:-]+)\s*=\s*("[^"]*"|'[^']*')""")
_SVG = re.compile(r"<svg\b([^>]*)>", re.S)
_TRANSLATE = re.compile(rf"^\s*translate\(\s*({_NUMBER})(?:[\s,]+({_NUMBER}))?\s*\)\s*$")


def token_from_image(image: str) -> str:
    """The text of the first QR code in the image file `image` (PNG, JPEG, … or SVG).

    Raises:
        UserError: the file cannot be read, is not an image, or holds no QR code.
    """
    path = Path(image)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read the QR image: {describe_os_error(exc, image)}") from None
    try:
        import zxingcpp
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # both are dependencies of the package: a broken installation
        raise UserError(
            "reading QR images needs zxing-cpp and Pillow: reinstall statuspass"
        ) from None
    picture: Any
    if _looks_like_svg(data):
        grid = grid_from_svg(data.decode("utf-8", "replace"), image)
        side = len(grid)
        pixels = bytes(0 if dark else 255 for row in grid for dark in row)
        picture = Image.frombytes("L", (side, side), pixels).resize(
            (side * _SCALE, side * _SCALE), Image.Resampling.NEAREST
        )
    else:
        import io

        try:
            picture = Image.open(io.BytesIO(data))
            picture.load()
        except (UnidentifiedImageError, OSError, ValueError):
            raise UserError(f"{image} is not an image Pillow can read (PNG, JPEG, SVG …)") from None
    found = zxingcpp.read_barcodes(picture)
    texts = [r.text for r in found if r.format == zxingcpp.BarcodeFormat.QRCode and r.text]
    if not texts:
        raise UserError(f"no QR code found in {image}")
    return str(texts[0])


def _looks_like_svg(data: bytes) -> bool:
    head = data[:2048].lstrip().lower()
    return head.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype svg")) and b"<svg" in head


def grid_from_svg(text: str, name: str = "the SVG") -> list[list[bool]]:
    """The module grid (quiet zone included) of an SVG drawn as one unit per module.

    Raises:
        UserError: the SVG is not drawn that way.
    """
    unsupported = UserError(
        f"cannot read the QR code in {name}: only SVGs drawn like Statuspass's own "
        "(a path of horizontal runs) can be read; export the QR code as PNG instead"
    )
    root = _SVG.search(text)
    if root is None:
        raise unsupported
    svg = {k: v[1:-1] for k, v in _ATTR.findall(root.group(1))}
    # the user unit is one module: from the viewBox, or from width/height without one
    box = svg.get("viewBox") or f"0 0 {svg.get('width', '')} {svg.get('height', '')}"
    try:
        x0, y0, width, height = (float(v) for v in box.replace(",", " ").split())
    except ValueError:
        raise unsupported from None
    side = round(width)
    if x0 or y0 or width != height or width != side or not 21 <= side <= _MAX_SIDE:
        raise unsupported
    grid = [[False] * side for _ in range(side)]
    paths = [dict(_ATTR.findall(attrs)) for attrs in _PATH.findall(text)]
    drawn = [{k: v[1:-1] for k, v in p.items()} for p in paths if "d" in p]
    if not drawn:
        raise unsupported
    for attrs in drawn:
        if attrs.get("stroke", "none") in ("none", "#fff", "#ffffff", "white"):
            raise unsupported
        if float(attrs.get("stroke-width", "1") or 1) != 1:
            raise unsupported
        dx, dy = _translation(attrs.get("transform"), unsupported)
        for x_from, x_to, y in _runs(attrs["d"], unsupported):
            row = int(y + dy)
            if not 0 <= row < side or (y + dy) - row != 0.5:
                raise unsupported
            for x in range(round(x_from + dx), round(x_to + dx)):
                if not 0 <= x < side:
                    raise unsupported
                grid[row][x] = True
    return grid


def _translation(transform: str | None, unsupported: UserError) -> tuple[float, float]:
    if not transform:
        return 0.0, 0.0
    match = _TRANSLATE.match(transform)
    if match is None:
        raise unsupported
    return float(match.group(1)), float(match.group(2) or 0)


def _runs(d: str, unsupported: UserError) -> list[tuple[float, float, float]]:
    """The horizontal strokes (x from, x to, y) of path data made of moves, `h`/`H` and
    horizontal `l`/`L`; any other drawing command is not a QR drawing we know."""
    items: list[str | float] = []
    for command, number in _TOKENS.findall(d):
        items.append(command if command else float(number))
    runs: list[tuple[float, float, float]] = []
    x = y = 0.0
    command = ""
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, str):
            command, i = item, i + 1
            if command in "Zz":
                continue  # closing a horizontal run's subpath draws nothing new here
            if command not in "MmHhLl":
                raise unsupported
        args_needed = 1 if command in "Hh" else 2
        args = items[i : i + args_needed]
        if not command or len(args) < args_needed or any(isinstance(a, str) for a in args):
            raise unsupported
        i += args_needed
        nums = [float(a) for a in args]
        if command in "Mm":
            x, y = (x + nums[0], y + nums[1]) if command == "m" else (nums[0], nums[1])
            command = "l" if command == "m" else "L"  # further pairs are lines (SVG rule)
            continue
        if command in "Hh":
            new_x, new_y = (x + nums[0] if command == "h" else nums[0]), y
        else:
            new_x, new_y = (x + nums[0], y + nums[1]) if command == "l" else (nums[0], nums[1])
        if new_y != y:
            raise unsupported
        runs.append((min(x, new_x), max(x, new_x), y))
        x = new_x
    return runs
