"""A fake camera's video file: a still image as YUV4MPEG2 (.y4m), 4:2:0, for Chromium's
``--use-file-for-fake-video-capture``, which plays it in a loop."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def frame_of(image: Image.Image, width: int = 640, height: int = 480) -> Image.Image:
    """The image centred on a white frame, scaled by a whole factor (QR modules stay
    sharp) to fill at most 3/4 of the frame's height."""
    image = image.convert("RGB")
    factor = max(1, (height * 3 // 4) // max(image.size))
    image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    canvas = Image.new("RGB", (width, height), "white")
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    return canvas


def write_y4m(image: Image.Image, path: Path, *, frames: int = 1, fps: int = 30) -> Path:
    """Write `image` (even width and height) as `frames` identical 4:2:0 frames.

    Y4M: a text header line, then per frame ``FRAME\\n`` and the Y plane at full size
    followed by the Cb and Cr planes at half width and half height (JPEG-style chroma
    siting, BT.601 full range as Pillow's YCbCr conversion gives).
    """
    width, height = image.size
    if width % 2 or height % 2:
        raise ValueError("4:2:0 needs an even width and height")
    y, cb, cr = image.convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = (
        y.tobytes()
        + cb.resize(half, Image.Resampling.BOX).tobytes()
        + cr.resize(half, Image.Resampling.BOX).tobytes()
    )
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(planes)
    return path
