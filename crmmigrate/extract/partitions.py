"""A source read in parts, each apart (on a Dask worker), as reading it whole reads it.

    parts = partitions(Source(location="contacts.csv"), target_bytes=64 << 20)
    extraction = open_part(parts[1])    # in any process: a Part pickles
    extraction.chunks(), extraction.report, extraction.rejects    # that part's share
    ExtractReport.combine([...each part's report...])             # the whole read's report

The parts' frames, one after the other, are the whole read's frame; their rejects are its
rejects; their reports add up to its report. `_row` is the line the whole read gives.

A delimited file is opened once, by the driver: encoding, delimiter, header row and columns are
chosen there and every part carries them (`Decided`), so no part guesses again. The file is
split at the start of a line where the whole read is certain to start a record: the bytes are
scanned for quotes and line ends, and a line end is outside a quoted field when the quotes
before it are even in number. That holds only while every quote is where RFC 4180 puts one
(opening a field, closing it before a delimiter or a line end, or doubled); past the first
that is not (a stray or unclosed quote), or a record so long that the whole read's runaway
checks or field limit could apply, the file is not split again: its last part reads on to the
end, and the whole read's handling of broken quotes applies to it unchanged. Only encodings in
which the quote, line end and delimiter bytes are always those characters are split (UTF-8 and
the single-byte code pages); a file in any other, or cut short, is read in one part.

A table is split by its primary key when it has one of a single column of integers or text:
the database numbers the rows in the key's order and gives the key of every Nth, and each part
reads `key > after AND key <= through` in that order (SqlExtraction.key_ranges), so its rows and
their `_row` labels (the key) are the whole read's. N is the rows of `target_bytes` as text, by
the width of the first rows. A query, a table without such a key, or one the database cannot
number is one part. A Parquet file is split into parts of whole row groups, about `target_bytes`
each (uncompressed, as the file's metadata gives them); its `_row` is stored in it.

A JSON Lines file is split after any line feed: the whole read takes it a line at a time (a
line feed, a carriage return and line feed, or a lone carriage return ending one), and a line
feed byte is never part of another character in UTF-8 or a one-byte code page (a file in any
other encoding is one part). A JSON array of records (the whole document an array) is split
after the commas between its records, found by scanning the bytes for strings (quotes, less
those an odd run of backslashes escapes) and brackets; each part is read as an array of its
own, its records numbered on from the records before it. A record's keys may first appear
near the end, so every part is read with the columns of one survey of the whole file
(`survey`), made of its parts' keys (`part_keys`, which a caller may read side by side, then
`with_survey`). An array's parts each read as an array of their own when the scan found its
commas right: else the file is not JSON, and the survey reads it whole for the whole read's
error. `partitions(..., surveyed=False)` leaves the survey to the caller. An array inside an
object (`--records`) and an Excel sheet are one part: the whole source.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow.parquet as pq

from crmmigrate.extract import detect_format, open_source
from crmmigrate.errors import CrmMigrateError
from crmmigrate.extract.base import Extraction, Source
from crmmigrate.extract.delimited import FIELD_LIMIT, RUNAWAY_LINES, Decided, DelimitedExtraction
from crmmigrate.extract.json_records import JsonExtraction, KeysSeen, Surveyed
from crmmigrate.extract.sql import KeyRange, SqlExtraction
from crmmigrate.extract.staged import StagedExtraction
from crmmigrate.passwords import mask_text

# How much of the file is scanned at once: the scan holds this block and the offsets of its
# quotes and line ends, never the file.
SCAN_BYTES = 1 << 22
_QUOTE, _LF, _CR = ord('"'), ord("\n"), ord("\r")


@dataclass(frozen=True)
class Part:
    """One part of a source: bytes `start` to `end` (None: to the end) of a delimited file or
    a JSON Lines file, which hold whole records and begin after `first_line` physical lines,
    read with the choices `decided` forced (for JSON Lines, its survey; `Unsurveyed` until it
    is made); or the rows of a table in the range `keys` of its primary key;
    or the `row_groups` of a Parquet file. With none of those, the whole source, read as
    open_source reads it. Its repr masks the password of a database URL."""

    source: Source
    index: int = 0
    count: int = 1
    start: int = 0
    end: int | None = None
    first_line: int = 0
    decided: Decided | Surveyed | Unsurveyed | None = None
    keys: KeyRange | None = None
    row_groups: range | None = None
    first_record: int = 0  # a part of a JSON array: the records before it

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        return mask_text(f"Part({shown})", self.source.location)


@dataclass(frozen=True)
class Unsurveyed:
    """A part of a JSON Lines file (`lines`) or a JSON array whose file is not surveyed yet."""

    lines: bool


def partitions(source: Source, target_bytes: int, *, surveyed: bool = True) -> list[Part]:
    """The parts to read `source` in, each about `target_bytes` long where it can be split.
    With `surveyed=False`, the parts of a JSON Lines file are `Unsurveyed` (`needs_survey`):
    `survey` them before they are read."""
    if target_bytes < 1:
        raise ValueError(f"target_bytes must be 1 or more, not {target_bytes}")
    kind = detect_format(source)
    if kind in ("jsonl", "json"):
        parts = _json_parts(source, target_bytes, lines=kind == "jsonl")
        return survey(parts) if surveyed else parts
    if kind not in ("csv", "sql", "parquet"):
        return [Part(source)]
    extraction = open_source(source)
    if isinstance(extraction, SqlExtraction):
        ranges = extraction.key_ranges(target_bytes)
        return [Part(source, i, len(ranges), keys=keys) for i, keys in enumerate(ranges)] or [Part(source)]
    if isinstance(extraction, StagedExtraction):
        runs = _row_groups(extraction.parquet.metadata, target_bytes)
        return [Part(source, i, len(runs), row_groups=run) for i, run in enumerate(runs)] or [Part(source)]
    assert isinstance(extraction, DelimitedExtraction)
    decided = extraction.decide()
    points = _split_points(extraction.path, decided, target_bytes)
    starts = [(0, 0), *points]
    ends = [offset for offset, _ in points] + [decided.cut[0] if decided.cut else None]
    return [
        Part(source, index, len(starts), start, end, first_line, decided)
        for index, ((start, first_line), end) in enumerate(zip(starts, ends, strict=True))
    ]


def needs_survey(parts: list[Part]) -> bool:
    return any(isinstance(part.decided, Unsurveyed) for part in parts)


def survey(parts: list[Part]) -> list[Part]:
    """A JSON file's parts with its survey (its keys, columns and notes), made of its parts'
    keys (`part_keys`, one after another here; `with_survey`); other parts as they are."""
    if not needs_survey(parts):
        return parts
    return with_survey(parts, [part_keys(part) for part in parts])


def part_keys(part: Part) -> KeysSeen | None:
    """A part's share of its JSON file's survey: the keys its records hold (a module function,
    run in a reading process or on a worker). None for a part of an array that does not read
    on its own as an array of one record or more: the file is not JSON there."""
    lines = part.decided.lines  # type: ignore[union-attr]
    extraction = JsonExtraction(part.source, lines=lines, start=part.start, end=part.end,
                                first_line=part.first_line, first_record=part.first_record)
    if lines:  # a line stands alone: a bad one is a reject, found when the part is read
        return extraction.keys_seen()
    try:
        seen = extraction.keys_seen()
    except CrmMigrateError:
        return None
    return seen if seen.records else None


def with_survey(parts: list[Part], seen: list[KeysSeen | None]) -> list[Part]:
    """A JSON file's parts with the survey its parts' keys (`part_keys`, in order) make. When
    each part of an array reads as an array of records on its own, the whole file reads as
    those records one after another (JSON has one parse): the scan found its commas right.
    Else the file is not JSON, and one pass over all of it stops with the whole read's error."""
    lines = parts[0].decided.lines  # type: ignore[union-attr]
    whole = JsonExtraction(parts[0].source, lines=lines)
    surveyed = whole.survey() if None in seen else whole.survey(KeysSeen.combine(seen))  # type: ignore[arg-type]
    return [replace(part, decided=surveyed) for part in parts]


def open_part(part: Part) -> Extraction:
    """The extraction of one part: its chunks(), report and rejects are that part's share."""
    if isinstance(part.decided, Unsurveyed):
        raise ValueError("a part of a JSON Lines file is read once the file is surveyed (survey())")
    if isinstance(part.decided, Surveyed):
        return JsonExtraction(part.source, lines=part.decided.report.format == "jsonl", surveyed=part.decided,
                              start=part.start, end=part.end, first_line=part.first_line,
                              first_record=part.first_record)
    if part.keys is not None:
        return SqlExtraction(part.source, keys=part.keys)
    if part.row_groups is not None:
        return StagedExtraction(part.source, row_groups=part.row_groups)
    if part.decided is None:
        return open_source(part.source)
    return DelimitedExtraction(
        part.source, decided=part.decided, start=part.start, end=part.end,
        first_line=part.first_line,
    )


def _json_parts(source: Source, target_bytes: int, *, lines: bool) -> list[Part]:
    """A JSON Lines file's parts, each starting after a line feed, or a JSON array's, each
    starting after a comma between records; about `target_bytes` apart. One part when the file
    is no bigger, an array is not the whole document, or its encoding cannot be split."""
    extraction = open_source(source)  # the encoding chosen, or refused, as the whole read does
    assert isinstance(extraction, JsonExtraction)
    path, encoding = extraction.path, extraction.encoding
    size = path.stat().st_size
    codec = codecs.lookup(encoding).name
    if size <= target_bytes or not (codec in ("utf-8", "utf-8-sig") or _single_byte(codec)):
        return [Part(source)]
    if lines:
        starts = [(0, 0, 0), *((offset, before, 0) for offset, before in _line_starts(path, size, target_bytes))]
    elif extraction._prefix == "item":
        starts = [(0, 0, 0), *_record_starts(path, size, target_bytes)]
    else:
        return [Part(source)]
    if len(starts) == 1:
        return [Part(source)]
    # A part of an array ends before the comma after its last record.
    ends = [offset - (0 if lines else 1) for offset, _, _ in starts[1:]] + [None]
    return [
        Part(source, index, len(starts), start, end, first_line, Unsurveyed(lines), first_record=records)
        for index, ((start, first_line, records), end) in enumerate(zip(starts, ends, strict=True))
    ]


_COMMA, _BACKSLASH = ord(","), ord("\\")
# +1 for [ and {, -1 for ] and }, 0 for a comma: the bytes that give a JSON text its shape.
_SHAPE = np.zeros(256, dtype=bool)
_SHAPE[[ord("["), ord("{"), ord("]"), ord("}"), _COMMA]] = True
_STEPS = np.zeros(256, dtype=np.int64)
_STEPS[[ord("["), ord("{")]] = 1
_STEPS[[ord("]"), ord("}")]] = -1


def _record_starts(path: Path, size: int, target_bytes: int) -> list[tuple[int, int, int]]:
    """(byte offset, lines before it, records before it) of the records to start parts at: the
    first record after a comma between the top-level array's records `target_bytes` or more past
    the last part's start. Strings are found by their quotes, less those a backslash escapes
    (a run of an odd number of backslashes before them), as in any JSON text."""
    points: list[tuple[int, int, int]] = []
    aim = target_bytes
    lines = commas = depth = 0  # before the block
    in_string = False
    escapes = False  # the block before ended in a backslash that escapes this block's first byte
    with path.open("rb") as f:
        for block in _blocks(f, 0, size):
            data = block.window[block.low - block.first:block.high - block.first]
            escaped = _escaped(data, escapes)
            escapes = _escapes_next(data, escapes)
            quotes = np.flatnonzero(data == _QUOTE)
            quotes = quotes[~escaped[quotes]] if quotes.size else quotes
            shape = np.flatnonzero(_SHAPE[data])
            outside = (int(in_string) + np.searchsorted(quotes, shape)) % 2 == 0
            shape = shape[outside]
            depths = depth + np.cumsum(_STEPS[data[shape]])
            between = shape[(data[shape] == _COMMA) & (depths == 1)] + block.low  # commas between records
            ends = block.line_ends()
            starts = between + 1
            while (i := int(np.searchsorted(starts, aim))) < starts.size:
                start = int(starts[i])
                points.append((start, int(_lines_before(lines, ends, start)), commas + i + 1))
                aim = start + target_bytes
            commas += between.size
            lines += ends[0].size + ends[1].size
            depth = int(depths[-1]) if depths.size else depth
            in_string = (int(in_string) + quotes.size) % 2 == 1
    return points


def _escaped(data: np.ndarray, escapes: bool) -> np.ndarray:
    """Per byte, whether a backslash escapes it: an odd run of them just before it (`escapes`:
    the run before this block's first byte, from the block before, is odd)."""
    escaped = np.zeros(data.size, dtype=bool)
    slashes = np.flatnonzero(data == _BACKSLASH)
    if escapes and data.size:
        if not slashes.size or slashes[0] != 0:
            escaped[0] = True
    if not slashes.size:
        return escaped
    breaks = np.flatnonzero(np.diff(slashes) != 1)
    firsts = slashes[np.concatenate(([0], breaks + 1))]
    lasts = slashes[np.concatenate((breaks, [slashes.size - 1]))]
    lengths = lasts - firsts + 1 + ((firsts == 0) & escapes)
    after = lasts + 1
    hit = (lengths % 2 == 1) & (after < data.size)
    escaped[after[hit]] = True
    return escaped


def _escapes_next(data: np.ndarray, escapes: bool) -> bool:
    """Whether the block's last bytes are an odd run of backslashes (with the run it continues)."""
    if not data.size or data[-1] != _BACKSLASH:
        return False
    others = np.flatnonzero(data != _BACKSLASH)
    run = data.size - (int(others[-1]) + 1 if others.size else 0)
    return (run + (escapes and not others.size)) % 2 == 1


def _line_starts(path: Path, size: int, target_bytes: int) -> list[tuple[int, int]]:
    """(byte offset, lines before it) of the line starts to begin parts at, each the first
    after a line feed `target_bytes` or more past the last part's start. Lines are counted as
    Python's text mode reads them: a lone carriage return ends one too."""
    points: list[tuple[int, int]] = []
    aim = target_bytes
    lines = 0  # before the block
    with path.open("rb") as f:
        for block in _blocks(f, 0, size):
            ends = block.line_ends()
            newlines = ends[0]
            usable = newlines + 1 < size
            candidates = newlines[usable] + 1
            candidates_lines = _lines_before(lines, ends, candidates)
            while (i := int(np.searchsorted(candidates, aim))) < candidates.size:
                points.append((int(candidates[i]), int(candidates_lines[i])))
                aim = int(candidates[i]) + target_bytes
            lines += newlines.size + ends[1].size
    return points


def _row_groups(metadata: pq.FileMetaData, target_bytes: int) -> list[range]:
    """The file's row groups in runs of about `target_bytes`, each run holding rows (a group of
    none joins the run before it, or the first run): empty when that is one run."""
    runs: list[range] = []
    start = size = rows = 0
    for group in range(metadata.num_row_groups):
        meta = metadata.row_group(group)
        if rows and meta.num_rows and size >= target_bytes:
            runs.append(range(start, group))
            start, size, rows = group, 0, 0
        size += meta.total_byte_size
        rows += meta.num_rows
    runs.append(range(start, metadata.num_row_groups))
    return runs if len(runs) > 1 else []


def _split_points(path: Path, decided: Decided, target_bytes: int) -> list[tuple[int, int]]:
    """(byte offset, physical lines before it) of the lines to start parts at: a record's
    first line after the header, about `target_bytes` apart. Empty when the file cannot be
    split with certainty."""
    delimiter = _delimiter_byte(decided)
    size = path.stat().st_size
    if delimiter is None or decided.cut or size <= target_bytes:
        return []
    # What a quote may follow when it opens a field, or come before when it closes one: a
    # delimiter, a line end, or the other quote of a doubled pair.
    beside = np.zeros(256, dtype=bool)
    beside[[delimiter, _LF, _CR, _QUOTE]] = True
    points: list[tuple[int, int]] = []
    aim = target_bytes
    quotes = lines = 0  # before the block
    with path.open("rb") as f:
        begin = len(codecs.BOM_UTF8) if _bom(decided, f.read(len(codecs.BOM_UTF8))) else 0
        record, record_lines = begin, 0  # where the record being scanned starts, lines before
        for block in _blocks(f, begin, size):
            quote_at = block.find(_QUOTE)
            doubt = _misplaced_quote(block, quote_at, quotes, begin, beside)
            line_ends = block.line_ends()
            newlines = line_ends[0]
            # Per newline: the physical lines up to it, and whether it ends a record.
            ended = _lines_before(lines, line_ends, newlines + 1)
            outside = (quotes + np.searchsorted(quote_at, newlines)) % 2 == 0
            ends, ends_lines = newlines[outside], ended[outside]
            # A record (as counted here, lone carriage returns inside) long enough for the
            # whole read's field limit or runaway checks: from its start, nothing is certain.
            starts = np.concatenate(([record], ends[:-1] + 1))
            starts_lines = np.concatenate(([record_lines], ends_lines[:-1]))
            long = (ends - starts >= FIELD_LIMIT // 2) | (
                ends_lines - starts_lines >= RUNAWAY_LINES // 2
            )
            if long.any():
                doubt = min(doubt, int(starts[np.argmax(long)]))
            usable = (ends + 1 < size) & (ends + 1 <= doubt) & (ends_lines >= decided.header_lines)
            candidates, candidates_lines = ends[usable] + 1, ends_lines[usable]
            while (i := int(np.searchsorted(candidates, aim))) < candidates.size:
                points.append((int(candidates[i]), int(candidates_lines[i])))
                aim = int(candidates[i]) + target_bytes
            if doubt < size:
                break
            quotes += quote_at.size
            lines += newlines.size + line_ends[1].size
            if ends.size:
                record, record_lines = int(ends[-1]) + 1, int(ends_lines[-1])
    return points


@dataclass
class _Block:
    """Bytes `low` to `high` of a file of `size` bytes, read with the byte on either side."""

    window: np.ndarray
    first: int  # the offset of window[0]: low - 1, or 0
    low: int
    high: int
    size: int

    def find(self, byte: int) -> np.ndarray:
        """The offsets in the file of `byte` between low and high."""
        inner = self.window[self.low - self.first : self.high - self.first]
        return np.flatnonzero(inner == byte) + self.low

    def before(self, offsets: np.ndarray) -> np.ndarray:
        """The byte before each offset (any byte for offset 0)."""
        return self.window[np.maximum(offsets - 1 - self.first, 0)]

    def after(self, offsets: np.ndarray) -> np.ndarray:
        """The byte after each offset (any byte for the file's last)."""
        return self.window[np.minimum(offsets + 1 - self.first, self.window.size - 1)]

    def line_ends(self) -> tuple[np.ndarray, np.ndarray]:
        """The offsets of the line feeds between low and high, and of the lone carriage returns
        (followed by no line feed): each ends a line, as Python's text mode reads them."""
        newlines, returns = self.find(_LF), self.find(_CR)
        return newlines, returns[(self.after(returns) != _LF) | (returns == self.size - 1)]


def _lines_before(lines: int, ends: tuple[np.ndarray, np.ndarray], offsets: np.ndarray | int) -> np.ndarray:
    """The lines ended before each offset of a block: `lines` before the block, and those of the
    block's line `ends` (`_Block.line_ends`) before the offset."""
    newlines, lone = ends
    return lines + np.searchsorted(newlines, offsets) + np.searchsorted(lone, offsets)


def _blocks(f: BinaryIO, begin: int, size: int) -> Iterator[_Block]:
    """The file from `begin` in blocks of SCAN_BYTES, read into one buffer over and over: the
    scan holds a block, never the file."""
    buffer = np.empty(SCAN_BYTES + 2, dtype=np.uint8)
    for low in range(begin, size, SCAN_BYTES):
        high = min(size, low + SCAN_BYTES)
        first = max(low - 1, 0)
        f.seek(first)
        read = f.readinto(memoryview(buffer)[: min(high + 1, size) - first])
        yield _Block(buffer[:read], first, low, high, size)


def _misplaced_quote(
    block: _Block, quote_at: np.ndarray, before: int, begin: int, beside: np.ndarray
) -> int:
    """Where the first quote RFC 4180 would not put is (the file's size if none is): one that
    opens (an even one, counting `before` before these) but does not start a field, or that
    closes but is not followed by the field's end or a quote doubling it. Up to it, the quotes
    counted say which line ends are inside quoted fields exactly as the csv module reads them."""
    if not quote_at.size:
        return block.size
    opening = (before + np.arange(quote_at.size)) % 2 == 0
    opens_well = beside[block.before(quote_at)] | (quote_at == begin)
    closes_well = beside[block.after(quote_at)] | (quote_at == block.size - 1)
    wrong = np.where(opening, ~opens_well, ~closes_well)
    return int(quote_at[np.argmax(wrong)]) if wrong.any() else block.size


def _delimiter_byte(decided: Decided) -> int | None:
    """The delimiter's byte, if the file's encoding can be split: in it, the bytes of a quote,
    a line end and the delimiter are those characters and never part of another one."""
    codec = codecs.lookup(decided.encoding).name
    if codec == "utf-8-sig":
        codec = "utf-8"
    elif codec != "utf-8" and not _single_byte(codec):
        return None
    try:
        encoded = decided.delimiter.encode(codec)
    except UnicodeEncodeError:
        return None
    if len(encoded) != 1 or encoded in (b'"', b"\n", b"\r"):
        return None
    return encoded[0]


def _single_byte(codec: str) -> bool:
    """Whether every byte is one character on its own, ASCII's bytes ASCII's characters and no
    other byte one of them. Not so in multi-byte (Shift JIS, GBK), wide (UTF-16) or stateful
    (ISO-2022, UTF-7) encodings, nor in mac-arabic and mac-farsi, whose bytes 0xA2 and 0xDB to
    0xDD are a second quote, bracket and backslash a scan of bytes would not see."""
    alone = [codecs.getincrementaldecoder(codec)("replace").decode(bytes([b])) for b in range(256)]
    if any(len(c) != 1 for c in alone) or any(alone[b] != chr(b) for b in range(128)):
        return False
    if any(ord(alone[b]) < 128 for b in range(128, 256)):
        return False
    return "".join(alone) == bytes(range(256)).decode(codec, "replace")


def _bom(decided: Decided, head: bytes) -> bool:
    """Whether the file starts with a UTF-8 byte-order mark that its reading drops."""
    return codecs.lookup(decided.encoding).name == "utf-8-sig" and head == codecs.BOM_UTF8
