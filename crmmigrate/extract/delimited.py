"""CSV and other delimited text: encoding, delimiter and header row detected, or forced.

Detection only looks at the head of the file; the whole file is then decoded strictly, so a
byte that does not fit the chosen encoding further down stops the read with its line and byte
offset instead of turning into a replacement character nobody notices.

Every record ends as a row or a reject with its line: a record of delimiters only is rejected
as empty, and a quote that never closes costs the line it opens on, not the rest of the file.
"""

from __future__ import annotations

import codecs
import copy
import csv
import dataclasses
import io
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import charset_normalizer
import pandas as pd

from crmmigrate.errors import (
    BinaryInput,
    EmptyInput,
    InputBeyondLimits,
    MalformedInput,
    UndecodableInput,
)
from crmmigrate.extract.base import (
    HEADER_SCAN_ROWS,
    Extraction,
    ExtractReport,
    Source,
    find_header_row,
    shorten,
    unique_columns,
)
from crmmigrate.extract.encoding import bom_codec, forced_codec

DELIMITERS = (",", ";", "\t", "|")
SAMPLE_BYTES = 1 << 20
DETECT_BYTES = 256 << 10
SNIFF_RECORDS = 200
# A quoted field longer than this is an unbalanced quote, not a real value: stop, do not slurp.
FIELD_LIMIT = 10 << 20
# A quoted field spanning more lines than this is an unbalanced quote too (a long note pasted
# into a description runs to hundreds of lines, not thousands).
RUNAWAY_LINES = 10_000
# How far from its end a file cut short is searched for the end of its last whole line.
TAIL_BYTES = 1 << 20
# Excel's own limit; a wider header is a wrong delimiter or not a table, and would need
# gigabytes to hold as columns.
MAX_COLUMNS = 16_384

# The encodings CRM, spreadsheet and call-centre exports are written in. Detection considers
# only these: with short files, a DOS, Mac or EBCDIC code page can otherwise "fit" Cyrillic
# bytes better than cp1251 does and garble every name. Any other encoding can be forced.
CANDIDATES = (
    "utf_8", "utf_16", "utf_16_le", "utf_16_be", "utf_32",
    "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258",
    "latin_1", "iso8859_2", "iso8859_5", "iso8859_7", "iso8859_9", "iso8859_15",
    "koi8_r", "koi8_u", "cp866",
    "gb18030", "gbk", "gb2312", "big5", "cp950",
    "cp932", "shift_jis", "euc_jp", "cp949", "euc_kr", "cp874", "tis_620",
)
# When several code pages decode the head equally well, the bytes cannot tell them apart;
# prefer the ones legacy CRM exports are actually written in.
_PREFERRED = (
    "utf_8",
    "cp1252",
    "latin_1",
    "cp1251",
    "gb18030",
    "gbk",
    "cp932",
    "shift_jis",
    "big5",
    "euc_kr",
    "cp1250",
    "iso8859_15",
    "koi8_r",
    "cp866",
)
# Reading with the superset is never worse, so a subset that also fits is not worth a note.
_SUBSETS = {"gb18030": ("gbk", "gb2312"), "gbk": ("gb2312",), "cp932": ("shift_jis",),
            "cp1252": ("latin_1",), "cp950": ("big5",), "cp949": ("euc_kr",)}

csv.field_size_limit(FIELD_LIMIT)


@dataclass(frozen=True)
class Decided:
    """What opening a delimited file decides before its records are read, and how its report
    tells it: a part of the file read apart (crmmigrate.extract.partitions) has these forced,
    so that it reads as the whole file does without guessing again."""

    encoding: str
    delimiter: str
    header_index: int
    columns: tuple[str, ...]
    # Fields of the header record: an empty field past the columns is padding, not a shift.
    padded_width: int
    # Physical lines up to the end of the header record (0 without a header).
    header_lines: int
    cut: tuple[int, str] | None
    report: ExtractReport


class DelimitedExtraction(Extraction):
    """Reads CSV, TSV and other delimited text files.

    With `decided`, nothing is detected: the bytes from `start` (the first byte of a record,
    after `first_line` physical lines) to `end` are read with those choices, the header only
    when `start` is 0. That reads one part of a file split by crmmigrate.extract.partitions.
    """

    def __init__(
        self,
        source: Source,
        *,
        decided: Decided | None = None,
        start: int = 0,
        end: int | None = None,
        first_line: int = 0,
    ) -> None:
        self.path = Path(source.location)
        super().__init__(
            source, name=source.name or self.path.stem, file=str(self.path), format="csv"
        )
        self._start, self._end, self._first_line = start, end, first_line
        self._header_ahead = start == 0
        # (columns, fields of the header record) once the header is read
        self._layout: tuple[list[str], int] | None = None
        if decided is not None:
            self._force(decided)
            return
        self._cut: tuple[int, str] | None = None
        head = self._read_head()
        self.encoding = self._choose_encoding(head)
        self._cut = self._cut_short()
        self._end = self._cut[0] if self._cut else None
        text = self._decode_head(self._read_head() if self._cut else head)
        if not text.strip():
            raise EmptyInput(
                "the file holds no header and no rows (only whitespace).", file=self.report.file
            )
        self.delimiter = self._choose_delimiter(text)
        self.header_index = self._choose_header(text)

    def decide(self) -> Decided:
        """Read up to the end of the header and return every choice made: what reading any
        part of the file needs. Uses up this extraction (its report holds no counts)."""
        self._done = True
        with self.path.open("rb") as raw:
            records = self._parse(self._text(raw), header_read=lambda: not self._header_ahead)
            self._read_header(records)
            header_lines = self._lines_read if self.header_index >= 0 else 0
        assert self._layout is not None
        columns, padded_width = self._layout
        report = dataclasses.replace(
            copy.deepcopy(self.report), rows=0, rejected=0, skipped_blank=0, skipped_above_header=0
        )
        return Decided(
            self.encoding, self.delimiter, self.header_index, tuple(columns), padded_width,
            header_lines, self._cut, report,
        )

    def _force(self, decided: Decided) -> None:
        self.encoding, self.delimiter = decided.encoding, decided.delimiter
        self.header_index, self._cut = decided.header_index, decided.cut
        self._layout = (list(decided.columns), decided.padded_width)
        self.report = copy.deepcopy(decided.report)

    # -- detection ----------------------------------------------------------------------

    def _read_head(self) -> bytes:
        with self.path.open("rb") as f:
            head = f.read(SAMPLE_BYTES)
        return head[: self._cut[0]] if self._cut else head

    def _cut_short(self) -> tuple[int, str] | None:
        """For a file in a UTF encoding that ends in the middle of a character: where its last
        whole line ends, and what follows. Those lines are read, the rest is rejected."""
        codec = codecs.lookup(self.encoding).name
        if not codec.startswith(("utf-8", "utf-16", "utf-32")):
            return None
        unit = 4 if "32" in codec else 2 if "16" in codec else 1
        size = self.path.stat().st_size
        start = max(0, size - TAIL_BYTES)
        start -= start % unit
        with self.path.open("rb") as f:
            first = f.read(4)
            f.seek(start)
            tail = f.read()
        if codec in ("utf-16", "utf-32"):  # the byte-order mark says which end comes first
            little = first.startswith(codecs.BOM_UTF16_LE if unit == 2 else codecs.BOM_UTF32_LE)
            codec += "-le" if little else "-be"
        codec = codec.removesuffix("-sig")
        decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        decoder.decode(tail, final=False)
        pending = decoder.getstate()[0]
        if not pending:
            return None
        newline = "\n".encode(codec)
        end = tail.rfind(newline, 0, len(tail) - len(pending))
        while end > 0 and end % unit:
            end = tail.rfind(newline, 0, end + len(newline) - 1)
        if end < 0:
            return None
        end += len(newline)
        # The damaged bytes are shown as \xNN escapes.
        return start + end, tail[end:].decode(codec, "backslashreplace").rstrip("\r\n")

    def _choose_encoding(self, head: bytes) -> str:
        report = self.report
        if self.source.encoding:
            name = forced_codec(self.source.encoding)
            report.encoding, report.encoding_forced = self.source.encoding, True
            return name
        marked = bom_codec(head)
        if marked:
            report.encoding, report.encoding_confidence = marked, 1.0
            return marked
        self._refuse_binary(head)
        utf16 = _utf16_without_bom(head[:8192])
        if utf16:
            report.encoding, report.encoding_confidence = utf16, 0.9
            report.notes.append(f"read as {utf16}: UTF-16 text without a byte-order mark.")
            return utf16
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            # final=False: the sample may end in the middle of a multi-byte character, and so
            # may a UTF-8 file cut short (whose whole lines are then read, see _cut_short).
            decoder.decode(head, final=False)
        except UnicodeDecodeError:
            pass
        else:
            report.encoding, report.encoding_confidence = "utf-8", 1.0
            return "utf-8"
        matches = list(charset_normalizer.from_bytes(head[:DETECT_BYTES], cp_isolation=list(CANDIDATES)))
        if not matches:
            raise BinaryInput(
                "this is not text in any encoding crmmigrate knows, so it cannot be read as CSV.",
                file=report.file,
                hint="If it is text, force the encoding with --encoding.",
            )
        chosen, others = _choose_match(matches)
        if others:
            report.notes.append(
                f"{', '.join(others)} decode(s) the file equally well as {chosen}; "
                f"chose {chosen}. Check accented letters, or force --encoding."
            )
        best = next(m for m in matches if chosen in (m.encoding, *m.could_be_from_charset))
        report.encoding = chosen
        report.encoding_confidence = round(1.0 - best.chaos, 2)
        return chosen

    def _refuse_binary(self, head: bytes) -> None:
        if b"\x00" not in head[:8192]:
            return
        kinds = {
            b"PK\x03\x04": "an Excel workbook or other zip archive (use --format excel for .xlsx)",
            b"%PDF": "a PDF document",
            b"\xd0\xcf\x11\xe0": "a legacy Office file such as .xls (save it as .xlsx or CSV)",
            b"SQLite format 3": "a SQLite database (read it with a sqlite:/// URL and --table)",
        }
        kind = next((k for magic, k in kinds.items() if head.startswith(magic)), None)
        if kind is None and _utf16_without_bom(head[:8192]):
            return
        raise BinaryInput(
            f"this is a binary file{', ' + kind if kind else ''}, not delimited text.",
            file=self.report.file,
            hint="Point crmmigrate at the CSV export, or force --format for the right reader.",
        )

    def _decode_head(self, head: bytes) -> str:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        try:
            text = decoder.decode(head, final=len(head) < SAMPLE_BYTES)
        except UnicodeDecodeError:
            self._raise_undecodable()
        if len(head) == SAMPLE_BYTES:
            # Keep whole lines only: the sniffers must not see a truncated last record.
            text = text[: text.rfind("\n") + 1] or text
        return text.lstrip("\ufeff")

    def _choose_delimiter(self, text: str) -> str:
        if self.source.delimiter:
            self.report.delimiter, self.report.delimiter_forced = self.source.delimiter, True
            return self.source.delimiter
        # The delimiter is the one that splits most records into the same number of fields.
        best, best_score = ",", (0.0, 0)
        for candidate in DELIMITERS:
            widths = [len(r) for r in _records(text, candidate, SNIFF_RECORDS) if any(r)]
            if not widths:
                continue
            width, count = Counter(widths).most_common(1)[0]
            score = (count / len(widths), width) if width > 1 else (0.0, 0)
            if score > best_score:
                best, best_score = candidate, score
        if best_score[1] == 0:
            self.report.notes.append(
                "found a single column; if the file has several, force --delimiter."
            )
        self.report.delimiter = best
        return best

    def _choose_header(self, text: str) -> int:
        """0-based record index of the header, or -1 when the file has none."""
        forced = self.source.header_row
        if forced is not None:
            self.report.header_row, self.report.header_forced = forced, True
            return forced - 1
        rows = _records(text, self.delimiter, HEADER_SCAN_ROWS)
        index = find_header_row(rows)
        self.report.header_row = index + 1
        return index

    # -- reading ------------------------------------------------------------------------

    def _text(self, raw: BinaryIO) -> io.TextIOWrapper:
        """The text read: the whole file, the whole lines of a file cut short, or a part."""
        encoding = self.encoding
        if self._start:
            raw.seek(self._start)
            if codecs.lookup(encoding).name == "utf-8-sig":
                encoding = "utf-8"  # a byte-order mark is only at the start of the file
        if self._end is not None:
            raw = io.BufferedReader(_Prefix(raw, self._end - self._start))
        return io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")

    def _read_header(
        self, records: Iterator[tuple[int, list[str]]]
    ) -> tuple[int, list[str]] | None:
        """Read the records up to the header; without a header, return the first record, which
        is a row."""
        index = -1
        for start, record in records:
            index += 1
            if index < self.header_index:
                if any(v.strip() for v in record):
                    self.report.skipped_above_header += 1
                continue
            self._header_ahead = False
            if self._layout is None:
                columns = self._header(record, start)
                # Exports that end every line with a delimiter have a header that does too;
                # only then is an empty last field padding rather than a shift.
                self._layout = (columns, len(record) if self.header_index >= 0 else len(columns))
            return None if self.header_index >= 0 else (start, record)
        if self._cut:
            self._raise_undecodable()
        raise EmptyInput(
            f"the file ends before its header row {self.header_index + 1}.",
            file=self.report.file,
            hint="Check --header-row.",
        )

    def _chunks(self) -> Iterator[pd.DataFrame]:
        report = self.report
        with self.path.open("rb") as raw:
            records = self._parse(self._text(raw), header_read=lambda: not self._header_ahead)
            if self._header_ahead:
                first = self._read_header(records)
                if first is not None:
                    records = itertools.chain([first], records)
            assert self._layout is not None
            columns, padded_width = self._layout
            width = len(columns)
            rows: list[list[str | None]] = []
            locators: list[str] = []
            for start, record in records:
                if not (record and record[0].strip()) and not "".join(record).strip():
                    if len(record) > 1 or (record and record[0].strip(" \t")):
                        # Delimiters, or a quoted line break, and nothing else: a record with
                        # no values, not a blank line.
                        raw_record = _join(record, self.delimiter)
                        self.reject(start, "empty record: no field holds a value", raw_record)
                    else:
                        report.skipped_blank += 1
                    continue
                if len(record) != width:
                    if len(record) == padded_width and not any(v.strip() for v in record[width:]):
                        record = record[:width]
                    else:
                        self.reject(
                            start,
                            f"expected {width} fields, found {len(record)}",
                            _join(record, self.delimiter),
                        )
                        continue
                rows.append(record)
                locators.append(str(start))
                if len(rows) >= self.source.chunk_rows:
                    yield self.frame(columns, rows, locators)
                    rows, locators = [], []
            if self._cut and self._end == self._cut[0]:
                self.reject(
                    self._lines_read + 1,
                    f"cut short: the file ends in the middle of a character in {report.encoding}, "
                    "so this last line is incomplete",
                    self._cut[1],
                )
            if rows or report.rows == 0:
                yield self.frame(columns, rows, locators)

    def _parse(
        self, stream: io.TextIOWrapper, *, header_read: Callable[[], bool]
    ) -> Iterator[tuple[int, list[str]]]:
        """(first physical line, fields) per record; a line whose quoted field runs away is
        rejected here.

        A quote that never closes would swallow every later line into one field. A record
        spanning several lines is therefore checked: its quoted fields must close, and close
        right before a delimiter or the end of a line, within RUNAWAY_LINES lines. If not, the
        line where the quote opened is rejected and reading starts again on the next one, so
        one stray quote costs one line. Clean files pay for this only on multi-line records.
        `header_read()` says whether the header is behind: a runaway header refuses the file.
        """
        lines = iter(stream)
        pending: list[str] = []  # lines to read again, the next one last
        consumed: list[str] = []  # the physical lines of the record being parsed
        line = self._first_line  # physical lines before the record being parsed

        def feed() -> Iterator[str]:
            # Lines put back are read first; a new feed is made whenever lines are put back.
            while pending:
                consumed.append(pending.pop())
                if len(consumed) > RUNAWAY_LINES:
                    raise _RunawayQuote(f"does not close within {RUNAWAY_LINES:,} lines")
                yield consumed[-1]
            for text in lines:
                consumed.append(text)
                if len(consumed) > RUNAWAY_LINES:
                    raise _RunawayQuote(f"does not close within {RUNAWAY_LINES:,} lines")
                yield text

        reader = self._reader(feed())
        while True:
            consumed.clear()
            start = line + 1
            try:
                record = next(reader)
            except StopIteration:
                self._lines_read = line
                return
            except UnicodeDecodeError:
                self._raise_undecodable()
            except (csv.Error, _RunawayQuote) as exc:
                if isinstance(exc, _RunawayQuote):
                    how = str(exc)
                elif len(consumed) > 1:
                    how = f"runs on too long ({exc})"
                else:
                    line += len(consumed)
                    raw = "".join(consumed).rstrip("\r\n")
                    if not header_read():
                        self._refuse_header(start, f"the CSV cannot be parsed: {exc}")
                    self.reject(start, f"the line cannot be parsed: {exc}", raw)
                    reader = self._reader(feed())  # a reader does not go on after an error
                    continue
            else:
                if len(consumed) > 1:
                    how = self._runaway(consumed)
                elif record and record[-1][-1:] in ("\n", "\r"):
                    # The line's end went into a field: the file ended inside a quote.
                    how = "is never closed"
                else:
                    how = None
            if how is None:
                line += len(consumed)
                self._lines_read = line
                yield start, record
                continue
            if not header_read():
                self._refuse_header(start, f"a quoted field that opens on this line {how}")
            line += 1
            pending.extend(reversed(consumed[1:]))
            reader = self._reader(feed())
            raw = consumed[0].rstrip("\r\n")
            reason = f"unbalanced quote: a quoted field that opens on this line {how}"
            if len(consumed) > 1:
                reason += f"; reading went on from line {start + 1}"
            self.reject(start, reason, raw)

    def _reader(self, lines: Iterator[str]) -> Iterator[list[str]]:
        return csv.reader(lines, delimiter=self.delimiter, quotechar='"', strict=False)

    def _runaway(self, consumed: list[str]) -> str | None:
        """How a record read over several lines breaks the rules of quoting, or None."""
        text = "".join(consumed)
        try:
            records = list(
                csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter, strict=True)
            )
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                return "is never closed"
            return f"is closed badly ({exc})"
        return None if len(records) == 1 else "is closed badly"

    def _refuse_header(self, line: int, what: str) -> NoReturn:
        raise MalformedInput(
            f"{what}, so the header cannot be read.",
            file=self.report.file,
            line=line,
            hint="Fix the quote in the header line of the file, or force --header-row.",
        )

    def _header(self, record: list[str], line: int) -> list[str]:
        if self.header_index < 0:
            text = self._decode_head(self._read_head())
            widths = [len(r) for r in _records(text, self.delimiter, SNIFF_RECORDS) if any(r)]
            count = Counter(widths).most_common(1)[0][0] if widths else len(record)
            names: list[str | None] = [None] * count
        else:
            names = list(record)
            if len(names) <= MAX_COLUMNS:
                used = self._used_width()
                while len(names) > max(1, used) and not (names[-1] or "").strip():
                    names.pop()  # a trailing delimiter on the header line is not a column
        if len(names) > MAX_COLUMNS:
            raise InputBeyondLimits(
                f"the {'header' if self.header_index >= 0 else 'first record'} has "
                f"{len(names):,} fields; crmmigrate reads at most {MAX_COLUMNS:,} columns. "
                f"It starts: {shorten(_join(record[:20], self.delimiter))}",
                file=self.report.file,
                line=line,
                hint="Check the delimiter (force it with --delimiter) and the header row "
                "(--header-row).",
            )
        columns, notes = unique_columns(names, file=self.report.file, line=line)
        if self.header_index < 0:
            notes = []
        self.report.notes.extend(notes)
        self.report.columns = columns
        return columns

    def _used_width(self) -> int:
        """How many leading columns hold a value in some record of the sample below the header."""
        text = self._decode_head(self._read_head())
        records = _records(text, self.delimiter, SNIFF_RECORDS)[self.header_index + 1 :]
        used = 0
        for record in records:
            for position in range(len(record), used, -1):
                if record[position - 1].strip():
                    used = position
                    break
        return used

    def _raise_undecodable(self) -> None:
        """Find the first byte that does not decode, and say where it is."""
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        newline = "\n"
        offset = 0
        lines = 1
        with self.path.open("rb") as f:
            while block := f.read(1 << 20):
                try:
                    text = decoder.decode(block)
                except UnicodeDecodeError as exc:
                    good = block[: exc.start]
                    pending = decoder.getstate()[0] if hasattr(decoder, "getstate") else b""
                    lines += codecs.decode(good, self.encoding, errors="replace").count(newline)
                    where = offset + exc.start
                    bad = block[exc.start : exc.end] or pending
                    hint = "Force the right encoding with --encoding"
                    found = list(charset_normalizer.from_bytes(block, cp_isolation=list(CANDIDATES)))
                    if found:
                        guess = _choose_match(found)[0]
                        if codecs.lookup(guess).name != codecs.lookup(self.encoding).name:
                            hint += f" (the bytes there look like {guess})"
                    raise UndecodableInput(
                        f"byte(s) {bad.hex(' ')} at byte offset {where} do not decode as "
                        f"{self.report.encoding}"
                        + ("" if self.report.encoding_forced else " (detected from the file's head)")
                        + ".",
                        file=self.report.file,
                        line=lines,
                        hint=hint + ".",
                    ) from None
                lines += text.count(newline)
                offset += len(block)
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                pass  # the file is cut short: said below
        raise UndecodableInput(
            f"the file ends after {offset:,} bytes in the middle of a character in "
            f"{self.report.encoding}: it was cut short, and its last record with it.",
            file=self.report.file,
            line=lines,
            hint="The export was probably cut off; re-export it.",
        )


class _Prefix(io.RawIOBase):
    """The first `limit` bytes of a file: the whole lines of a file cut short, or a part."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self.raw, self.left = raw, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(min(len(buffer), self.left))
        buffer[: len(data)] = data
        self.left -= len(data)
        return len(data)


class _RunawayQuote(Exception):
    """A record has run over RUNAWAY_LINES lines: its quote is unbalanced."""


def _choose_match(matches: list[charset_normalizer.CharsetMatch]) -> tuple[str, list[str]]:
    """The encoding to read with, and the other likely ones worth a note.

    The mess ratio alone picks wrong on Latin text with few accents: decoded as cp1251,
    "Décideur" becomes "Dйcideur", barely messier. A word spelt half in Latin and half in
    Cyrillic or Greek letters is what a wrong code page produces and real names are not, so
    among candidates whose mess is within 0.1 of the least, the fewest such words wins.
    Candidates that decode to identical text are told apart by the prior.
    """
    least = min(m.chaos for m in matches)
    close = [m for m in matches if m.chaos <= least + 0.1]
    scored = [(_mixed_script_words(str(m)), m.chaos, m) for m in close]
    fewest = min(mixed for mixed, _, _ in scored)
    calmest = min(chaos for mixed, chaos, _ in scored if mixed == fewest)
    equal = [m for mixed, chaos, m in scored if mixed == fewest and chaos <= calmest + 1e-9]
    names = list(dict.fromkeys(e for m in equal for e in (m.encoding, *m.could_be_from_charset)))
    names = [e for e in names if e in CANDIDATES]
    names.sort(key=lambda e: _PREFERRED.index(e) if e in _PREFERRED else len(_PREFERRED))
    chosen = names[0]
    others = [e for e in names[1:] if e in _PREFERRED and e not in _SUBSETS.get(chosen, ())]
    return chosen, others


_WORD = re.compile(r"[^\W\d_]{2,}")


def _mixed_script_words(text: str) -> int:
    count = 0
    for word in _WORD.findall(text[:DETECT_BYTES]):
        if word.isascii():
            continue
        scripts = {_script(ch) for ch in word}
        if "LATIN" in scripts and scripts & {"CYRILLIC", "GREEK", "HEBREW", "ARABIC"}:
            count += 1
    return count


def _script(ch: str) -> str:
    if ch.isascii():
        return "LATIN"
    return unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 puts the zero byte of every ASCII character (digits, delimiters, newlines) at the
    same parity: odd offsets in little-endian, even ones in big-endian."""
    even = head[0::2].count(0)
    odd = head[1::2].count(0)
    if max(even, odd) < max(4, len(head) // 16) or max(even, odd) < 8 * min(even, odd):
        return None
    return "utf-16-le" if odd > even else "utf-16-be"


def _records(text: str, delimiter: str, limit: int) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    records = []
    try:
        for record in reader:
            records.append(record)
            if len(records) >= limit:
                break
    except csv.Error:
        pass
    return records


def _join(record: list[str], delimiter: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="").writerow(record)
    return buffer.getvalue()
