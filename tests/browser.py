"""Pages opened in headless Chromium, as a reader's browser would: the DOM it serialised and
screenshots. Shared by the tests of every HTML report."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
INSTALL = "apt-get update && apt-get install -y chromium"


class Dom(HTMLParser):
    """The tags, attributes and text of a page, as a browser serialised it."""

    def __init__(self, html_text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html_text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.tags.append((f"/{tag}", {}))

    def handle_data(self, data: str) -> None:
        # The stylesheet is not text a reader sees.
        if not (self.tags and self.tags[-1][0] == "style"):
            self.text.append(data)

    def joined(self) -> str:
        return "".join(self.text)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium run with `args` (--dump-dom, --screenshot=...) in a fresh profile."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        # Not a skip: a skipped browser test looks like a passing one in CI, and .ci/run
        # installs the browser.
        pytest.fail(f"chromium is not installed; install it with: {INSTALL}", pytrace=False)
    command = [
        CHROMIUM if Path(CHROMIUM).exists() else "chromium",
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", *args,
    ]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def png_pixels(png: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """A screenshot's width, height and RGB pixels, read without an imaging library: an 8-bit,
    non-interlaced RGB or RGBA PNG as Chromium writes it."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks, at = {}, 8
    data = b""
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        kind, body = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        if kind == b"IDAT":
            data += body
        else:
            chunks.setdefault(kind, body)
        at += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    step = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(data), width * step
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + predictor) & 0xFF
        pixels += [tuple(line[i:i + 3]) for i in range(0, stride, step)]
        previous = line
    return width, height, pixels
