"""How long work tells whoever watches it how far it is; the library never prints it.

A `Progress` is called as `progress(stage, item, done, total)`: `stage` is the pipeline stage
(extract, map, clean, validate, dedupe, ledger, load), `item` what in it (a source, an entity,
"contact: pairs compared"), `done` how many of `total` units (rows, values, pairs) are through,
`total` None while unknown. An item has finished when `done` reaches `total`. Every function
that takes one defaults to None: nothing is told. The CLI's bars and its log lines
(cli/terminal/console.py) are the two that listen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

# stage, item (a source or an entity), done, total (None while unknown)
Progress = Callable[[str, str, int, int | None], None]


class Tally:
    """One item's progress, counted up from several threads: told at once that it starts (0 of
    `total`), then after each `add`, and that it has finished at `finish` (or when the adds
    reach `total`). With no `progress`, nothing is counted."""

    def __init__(self, progress: Progress | None, stage: str, item: str, total: int) -> None:
        self.progress, self.stage, self.item, self.total = progress, stage, item, max(int(total), 0)
        self.done = 0
        self._lock = threading.Lock()
        if progress is not None:
            progress(stage, item, 0, self.total)

    def add(self, count: int) -> None:
        """`count` more units are done."""
        self._tell(lambda done: done + int(count))

    def part(self, parts_done: int, parts: int) -> None:
        """`parts_done` of `parts` equal parts of the work are done (a frame's fields: its rows
        counted a field at a time)."""
        self._tell(lambda done: max(done, self.total * parts_done // max(parts, 1)))

    def _tell(self, new: Callable[[int], int]) -> None:
        if self.progress is None:
            return
        with self._lock:  # told in order, so `done` never goes back
            before = self.done
            self.done = min(new(self.done), self.total)
            if self.done != before:
                self.progress(self.stage, self.item, self.done, self.total)

    def finish(self) -> None:
        """Everything is done, whatever the adds said (work that turned out smaller)."""
        if self.progress is None:
            return
        with self._lock:
            if self.done != self.total:
                self.done = self.total
                self.progress(self.stage, self.item, self.done, self.total)
