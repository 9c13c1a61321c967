from __future__ import annotations

import io
import re
import secrets

import pytest
import segno
import zxingcpp
from PIL import Image

from app.tokens import SigningKey, render_qr, sign
from app.tokens._qrencode import encode_matrix, fits
from app.tokens.qr import QUIET_ZONE

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
    """Parse our own SVG back: the viewBox size and each 'Mx y.5hn' run."""
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1)) - 2 * QUIET_ZONE
    rows = [bytearray(size) for _ in range(size)]
    for x, y, n in re.findall(r"M(\d+) (\d+)\.5h(\d+)", svg):
        for i in range(int(n)):
            rows[int(y) - QUIET_ZONE][int(x) - QUIET_ZONE + i] = 1
    return [bytes(r) for r in rows]


def decode(img: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(img)]


def social_tariff_token() -> str:
    key = SigningKey.generate("ES256")
    claims = {
        "iss": ISS,
        "iat": 1748779200,
        "exp": 1748779500,
        "jti": "Q2xvdWRzQW5kUmFp",
        "ent": "social_tariff",
        "nam": "J. PEETERS",
        "status": {"status_list": {"idx": 1048575, "uri": ISS + "/v1/status-lists/1"}},
    }
    return sign(claims, key, typ="statuspass+jwt")


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
