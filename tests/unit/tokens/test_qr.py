from __future__ import annotations

import io
import re
import secrets

import pytest
import segno
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from app.tokens import SigningKey, encode_proof, render_qr
from app.tokens._qrencode import encode_matrix, fits
from app.tokens.qr import QUIET_ZONE, svg_from_matrix

ISS = "https://statuspass.example.org"


def matrix_image(matrix: list[bytes], scale: int = 4) -> Image.Image:
    size = len(matrix) + 2 * QUIET_ZONE
    img = Image.new("L", (size, size), 255)
    px = img.load()
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                px[x + QUIET_ZONE, y + QUIET_ZONE] = 0
    return img.resize((size * scale, size * scale), Image.NEAREST)


def matrix_from_svg(svg: str) -> list[bytes]:
    """Parse our own SVG back: the viewBox size and the path, as a renderer would.

    A stroke of width 1 (butt caps) along a horizontal segment at y + 0.5 covers the
    modules of row y it passes over. Understands the path commands M m H h V v Z z.
    """
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1)) - 2 * QUIET_ZONE
    assert re.search(r'stroke-width="1"', svg)
    path = re.search(r'<path [^>]*\bd="([^"]*)"', svg).group(1)
    rows = [bytearray(size) for _ in range(size)]
    x = y = start_x = start_y = 0.0
    tokens = re.findall(r"[MmHhVvZz]|-?\d+(?:\.\d+)?", path)
    i, command = 0, ""
    while i < len(tokens):
        if tokens[i].isalpha():
            command = tokens[i]
            i += 1
            if command in "Zz":
                x, y = start_x, start_y
                continue
        if command in "Mm":
            dx, dy = float(tokens[i]), float(tokens[i + 1])
            i += 2
            x, y = (x + dx, y + dy) if command == "m" else (dx, dy)
            start_x, start_y = x, y
            command = "l" if command == "m" else "L"  # implicit lineto: not emitted by us
            continue
        if command in "Ll":
            raise AssertionError("unexpected lineto in the QR path")
        value = float(tokens[i])
        i += 1
        if command in "Vv":
            raise AssertionError("unexpected vertical stroke in the QR path")
        end = x + value if command == "h" else value
        assert y % 1 == 0.5, "strokes run through the middle of a row"
        row = int(y) - QUIET_ZONE
        for col in range(int(min(x, end)), int(max(x, end))):
            rows[row][col - QUIET_ZONE] = 1
        x = end
    return [bytes(r) for r in rows]


def decode(img: Image.Image) -> list[str]:
    """Every QR code zxing-cpp finds, as a scanner app asks for it (and as `statuspass
    verify --qr` does). Asked for every format, zxing-cpp now and then also "finds" a 1D
    barcode (EAN-13, ITF, DataBar) in the random-looking data modules of a large
    symbol, beside the exact token: 1 image in ~100 at 800+ characters."""
    return [r.text for r in zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)]


def social_tariff_token() -> str:
    """A social_tariff proof as issuance writes it (`encode_proof`): the pinned QR sizes
    follow any claim the issuer adds."""
    return encode_proof(
        SigningKey.generate("ES256"),
        issuer=ISS,
        iat=1748779200,
        exp=1748779500,
        jti="Q2xvdWRzQW5kUmFp",
        type_id="social_tariff",
        name="J. PEETERS",
        list_uri=ISS + "/v1/status-lists/1",
        idx=1048575,
        attributes={},
    )


def test_png_decodes_to_the_exact_token() -> None:
    token = social_tariff_token()
    image = render_qr(token, svg=False, png=True)
    assert image.svg is None and image.png is not None
    assert decode(Image.open(io.BytesIO(image.png))) == [token]


def test_svg_decodes_to_the_exact_token() -> None:
    token = social_tariff_token()
    image = render_qr(token)
    assert image.png is None and image.svg is not None
    assert decode(matrix_image(matrix_from_svg(image.svg))) == [token]


def test_social_tariff_proof_size_and_version_are_recorded() -> None:
    """Record, not wish: with the spec's mandatory claims the proof needs version 17.

    480 characters = header 74 + payload 318 + ES256 signature 86 (+2 dots). v17-M
    holds 504 bytes in byte mode, v16-M 450, v13-M 331: reaching v13 would need ~150
    characters fewer than the mandatory claims allow (see the report to the lead).
    """
    token = social_tariff_token()
    assert len(token) == 480
    image = render_qr(token, svg=False)
    assert image.version == 17
    result = zxingcpp.read_barcodes(matrix_image(encode_matrix(token)[1]))[0]
    assert result.ec_level == "M"


@pytest.mark.parametrize("version", range(1, 41))
def test_every_version_matches_segno_module_for_module(version: int) -> None:
    # the longest text of each version fills it exactly, so no padding choice differs;
    # segno (which picks the version itself) must agree that it is the smallest fit
    capacity = max(n for n in range(2400) if fits(n, version))
    text = secrets.token_urlsafe(capacity)[:capacity]
    got_version, matrix = encode_matrix(text)
    reference = segno.make(text, error="m", boost_error=False, mode="byte", mask=3, micro=False)
    assert got_version == reference.version == version
    assert matrix == [bytes(r) for r in reference.matrix]
    if version < 40:
        assert encode_matrix(text + "x")[0] == version + 1


@pytest.mark.parametrize("length", [1, 17, 100, 331, 332, 800, 1500, 2331])
def test_any_length_decodes(length: int) -> None:
    text = secrets.token_urlsafe(length)[:length]
    image = render_qr(text, svg=True, png=True, scale=2)
    assert decode(Image.open(io.BytesIO(image.png))) == [text]
    assert decode(matrix_image(matrix_from_svg(image.svg))) == [text]


def test_non_ascii_falls_back_and_decodes() -> None:
    image = render_qr("Zoë — ✓", svg=False, png=True)
    assert decode(Image.open(io.BytesIO(image.png))) == ["Zoë — ✓"]


def test_too_long_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        render_qr("a" * 2332)


@pytest.mark.parametrize("version", [1, 2, 7, 13, 17, 25, 40])
def test_svg_draws_exactly_the_matrix(version: int) -> None:
    capacity = max(n for n in range(2400) if fits(n, version))
    matrix = encode_matrix(secrets.token_urlsafe(capacity)[:capacity])[1]
    svg = svg_from_matrix(matrix)
    assert matrix_from_svg(svg) == matrix
    side = len(matrix) + 2 * QUIET_ZONE
    assert f'viewBox="0 0 {side} {side}"' in svg


@given(
    st.integers(1, 40).flatmap(
        lambda n: st.lists(st.binary(min_size=n, max_size=n), min_size=n, max_size=n)
    )
)
def test_svg_draws_any_module_pattern(rows: list[bytes]) -> None:
    matrix = [bytes(b & 1 for b in row) for row in rows]
    assert matrix_from_svg(svg_from_matrix(matrix)) == matrix


@pytest.mark.parametrize("length", [*range(0, 120), 331, 332, 503, 504, 505, 2330, 2331])
def test_version_only_is_the_version_of_the_symbol(length: int) -> None:
    text = ("x" * length)[:length]
    assert render_qr(text, svg=False).version == encode_matrix(text)[0]


def test_version_only_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="too long"):
        render_qr("a" * 2332, svg=False)
    assert render_qr("Zoë — ✓", svg=False).version == render_qr("Zoë — ✓").version
