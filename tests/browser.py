"""Pages opened in headless Chromium, as a reader's browser would: the DOM it serialised and
screenshots. Shared by the tests of every HTML report."""

from __future__ import annotations

import shutil
import subprocess
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
