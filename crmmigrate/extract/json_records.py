"""JSON (an array of records, or an object holding one) and JSON Lines (one record a line).

Nested objects become dotted columns ("address.city"); arrays inside a record stay JSON text.
The output needs a fixed set of columns before its first chunk, and a later record may add a
key, so the file is streamed twice: once for the union of the keys (`survey`), once for the
values. Memory stays bounded by the largest record, never the file.

A JSON Lines file, or a JSON array of records, may be read in parts
(crmmigrate.extract.partitions): the bytes `start` to `end`, which begin after `first_line`
lines (and, in an array, `first_record` records), read with the whole file's survey
(`Surveyed`: its encoding, keys, columns and notes) forced, so that the parts' frames, rejects
and reports add up to the whole read's. A part of an array is read as an array of its own: an
opening bracket before a part that starts after a comma, a closing one after a part that ends
before one.
"""

from __future__ import annotations

import decimal
import functools
import io
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import ijson
import numpy as np
import pandas as pd

from crmmigrate.errors import (
    BadUsage,
    EmptyInput,
    InputBeyondLimits,
    MalformedInput,
    UndecodableInput,
)
from crmmigrate.extract.base import Extraction, ExtractReport, Source, cell_to_str, shorten, unique_columns
from crmmigrate.extract.encoding import bom_codec, forced_codec

_FEED_CHARS = 64 << 10
# Bytes that did not decode are kept as lone surrogates (errors="surrogateescape").
_UNDECODED = re.compile("[\udc80-\udcff]")
_KINDS = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
# CRM records nest a few levels; a file nested thousands deep is an attack or an accident, and
# the parser's paths for it grow with the square of the depth (100,000 levels: 6 GB).
MAX_DEPTH = 100
# Everything up to an unclosed string: strings whole, anything else but a quote.
_UP_TO_OPEN_STRING = re.compile(r'(?:[^"]++|"(?:[^"\\]++|\\.)*+")*+', re.DOTALL)
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_STRING_BODY = re.compile(r'(?:[^"\\]++|\\.)*+', re.DOTALL)
# A string longer than this is a quote that never closes (base64 attachments stay below).
HELD_CHARS = 64 << 20
_TRAILING_DIGITS = re.compile(r"[0-9]*\Z")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# +1 for [ and {, -1 for ] and }, by byte.
_DEPTH_STEPS = np.zeros(256, dtype=np.int8)
_DEPTH_STEPS[[ord("["), ord("{")]] = 1
_DEPTH_STEPS[[ord("]"), ord("}")]] = -1
# An escape; a surrogate escape is matched as a pair when it is one.
_ESCAPE = re.compile(
    r"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)",
    re.DOTALL,
)


@dataclass(frozen=True)
class KeysSeen:
    """What a first pass over records saw: their keys in first-seen order, those that held an
    object somewhere and those that held a value; the lone surrogate escapes in their strings.
    The passes over a file's parts, combined in order, saw what one pass over the file sees."""

    found: tuple[str, ...]
    objects: frozenset[str]
    valued: frozenset[str]
    lone_surrogates: int
    records: int  # objects or not

    @staticmethod
    def combine(parts: list[KeysSeen]) -> KeysSeen:
        return KeysSeen(tuple(dict.fromkeys(key for part in parts for key in part.found)),
                        frozenset().union(*(part.objects for part in parts)),
                        frozenset().union(*(part.valued for part in parts)),
                        sum(part.lone_surrogates for part in parts), sum(part.records for part in parts))


@dataclass(frozen=True)
class Surveyed:
    """What the first pass over a JSON file decides: the codec its text is read in, the keys
    of its records in first-seen order, and the report's choices (columns, encoding, notes)."""

    encoding: str
    keys: tuple[str, ...]
    report: ExtractReport


class JsonExtraction(Extraction):
    """Reads a JSON array of records, or JSON Lines (the whole file, or with `surveyed` the
    part of it from byte `start` to `end`, after `first_line` lines)."""

    def __init__(self, source: Source, *, lines: bool, surveyed: Surveyed | None = None,
                 start: int = 0, end: int | None = None, first_line: int = 0, first_record: int = 0) -> None:
        self.path = Path(source.location)
        super().__init__(
            source,
            name=source.name or self.path.stem,
            file=str(self.path),
            format="jsonl" if lines else "json",
        )
        self.lines = lines
        self._lone_surrogates = 0  # in the last pass over the file
        if lines and source.records:
            raise BadUsage(
                "--records names an array inside a JSON document; a JSON Lines file has one "
                "record a line.",
                file=self.report.file,
                hint="Drop --records, or force --format json if the file is one JSON document.",
            )
        self.surveyed = surveyed
        self.start, self.end, self.first_line, self.first_record = start, end, first_line, first_record
        if surveyed is None:
            self.encoding = self._choose_encoding()
            self._prefix = None if lines else "item" if start else self._records_prefix()
        else:
            self.report = replace(surveyed.report, columns=list(surveyed.report.columns),
                                  notes=list(surveyed.report.notes))
            self.encoding = surveyed.encoding
            self._prefix = None if lines else "item"  # only an array of records is read in parts
        if start and self.encoding == "utf-8-sig":
            # A mark is dropped where the file starts; one at the start of a later line is that
            # line's, as the whole read (which decodes past it) sees it.
            self.encoding = "utf-8"

    # -- encoding -----------------------------------------------------------------------

    def _choose_encoding(self) -> str:
        report = self.report
        if self.source.encoding:
            name = forced_codec(self.source.encoding)
            report.encoding, report.encoding_forced = self.source.encoding, True
            # A forced UTF-8 must still not hand a byte-order mark to the parser.
            return "utf-8-sig" if name == "utf-8" else name
        with self.path.open("rb") as f:
            head = f.read(4)
        marked = bom_codec(head)
        if marked:
            report.encoding = marked
            return marked
        # JSON text starts with an ASCII character, so the zero bytes around it give away
        # UTF-16 and UTF-32 written without a byte-order mark (RFC 4627, section 3).
        zeros = tuple(b == 0 for b in head)
        unmarked = {
            (True, True, True, False): "utf-32-be",
            (False, True, True, True): "utf-32-le",
        }.get(zeros) or {(True, False): "utf-16-be", (False, True): "utf-16-le"}.get(zeros[:2])
        if unmarked:
            report.encoding = unmarked
            report.notes.append(f"read as {unmarked}: the file has no byte-order mark.")
            return unmarked
        report.encoding = "utf-8"
        return "utf-8"

    @contextmanager
    def _text(self) -> Iterator[TextIO]:
        with self.path.open("rb") as raw:
            if self.start or self.end is not None:  # a part: its bytes alone (a part is bounded)
                raw.seek(self.start)
                held = raw.read() if self.end is None else raw.read(self.end - self.start)
                if not self.lines:  # the array's records in this part, as an array of their own
                    held = (b"[" if self.start else b"") + held + (b"]" if self.end is not None else b"")
                yield io.TextIOWrapper(io.BytesIO(held), encoding=self.encoding, errors="surrogateescape")
                return
            yield io.TextIOWrapper(raw, encoding=self.encoding, errors="surrogateescape")

    def _undecodable(self, line: int) -> UndecodableInput:
        return UndecodableInput(
            f"the file holds bytes that are not valid {self.report.encoding}.",
            file=self.report.file,
            line=line,
            hint="Force the file's encoding with --encoding.",
        )

    # -- JSON documents -----------------------------------------------------------------

    def _feed(
        self, make_parser: Callable[[list[Any]], Any], *, by_line: bool = False
    ) -> Iterator[Any]:
        """Everything an ijson push parser makes of the whole file, in order.

        The file is fed in blocks, which is fast but cannot say on which line of a block the
        JSON breaks; after an error it is fed again a line at a time, up to the error, to say.
        """
        found = ijson.sendable_list()
        parser = make_parser(found)
        guard = _JsonGuard()
        line = self.first_line + 1  # where the next piece starts
        seen = ends_line = False
        with self._text() as text:
            read = text.readline if by_line else text.read
            while True:
                try:
                    read_piece = read(_FEED_CHARS)
                    piece = guard.feed(read_piece, final=not read_piece)
                    if not read_piece and not piece:
                        break
                    if not piece:
                        continue  # all of it is a string still open: held for the next piece
                    parser.send(piece.encode("utf-8"))
                except _TooDeep as exc:
                    raise self._too_deep(line + exc.args[0]) from None
                except _NumberTooLong as exc:
                    raise InputBeyondLimits(
                        f"an integer of more than {sys.get_int_max_str_digits():,} digits, more than Python "
                        "holds; crmmigrate refuses it rather than let the JSON parser crash on it.",
                        file=self.report.file,
                        line=line + exc.args[0],
                        hint="Check the export at that line: no CRM field holds a number that long; "
                        "quote it to keep it as text.",
                    ) from None
                except _StringTooLong:
                    raise MalformedInput(
                        f"a string that starts on this line runs on past {HELD_CHARS >> 20} MiB: "
                        "its closing quote is missing.",
                        file=self.report.file,
                        line=line,
                        hint="Fix the quote in the file, or re-export it.",
                    ) from None
                except (UnicodeError, ijson.JSONError) as exc:
                    if not by_line:
                        for _ in self._feed(make_parser, by_line=True):
                            pass
                    raise self._input_error(exc, line) from None
                seen = seen or not piece.isspace()
                ends_line = piece.endswith("\n")
                line += piece.count("\n")
                yield from found
                del found[:]
        self._lone_surrogates = guard.lone_surrogates
        try:
            parser.close()
        except ijson.JSONError as exc:
            if not seen:
                raise EmptyInput(
                    "the file holds no JSON, only whitespace.", file=self.report.file
                ) from None
            raise self._input_error(exc, line - 1 if ends_line else line) from None
        yield from found

    def _too_deep(self, line: int) -> InputBeyondLimits:
        return InputBeyondLimits(
            f"the JSON nests arrays and objects more than {MAX_DEPTH} levels deep; crmmigrate "
            "reads records nested at most that deep.",
            file=self.report.file,
            line=line,
            hint="Check the export: CRM records nest a few levels, not hundreds.",
        )

    def _input_error(self, exc: Exception, line: int) -> UndecodableInput | MalformedInput:
        if isinstance(exc, UnicodeError):
            return self._undecodable(line)
        return self._malformed(exc, line)

    def _malformed(self, exc: Exception, line: int) -> MalformedInput:
        # yajl's message is a reason, then a picture of the bytes around the error.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "premature EOF"
        reason = reason.removeprefix("parse error: ").removeprefix("lexical error: ").rstrip(".")
        hint = "Fix the JSON at that line; a missing comma, quote or bracket is the usual cause."
        if "premature EOF" in reason:
            reason = "the file ends in the middle of the JSON (premature EOF)"
            hint = "The export was probably cut off; re-export it."
        elif "trailing garbage" in reason:
            hint = (
                "If the file holds one JSON record a line, read it as JSON Lines with "
                "--format jsonl."
            )
        return MalformedInput(
            f"not valid JSON: {reason}.", file=self.report.file, line=line, hint=hint
        )

    def _records_prefix(self) -> str:
        """The ijson prefix of the elements of the array of records."""
        events = self._feed(ijson.parse_coro)
        _, event, _ = next(events)
        events.close()
        records = self.source.records
        if event == "start_array":
            if records:
                raise BadUsage(
                    f"--records {records!r} names a path inside an object, but the file is an "
                    "array of records.",
                    file=self.report.file,
                    hint="Drop --records.",
                )
            return "item"
        if event != "start_map":
            raise MalformedInput(
                f"the file is a single JSON {event}, not an array of records.",
                file=self.report.file,
                hint="Point crmmigrate at an export holding an array of objects.",
            )
        if records:
            self.report.records_path = records
            return f"{records}.item"
        keys, arrays = self._survey()
        top = [a for a in arrays if a in keys]
        if len(top) == 1:
            self.report.records_path = top[0]
            self.report.notes.append(
                f"read the records from {top[0]!r}, the only top-level key holding an array "
                "of objects; force another path with --records."
            )
            return f"{top[0]}.item"
        if top:
            which = f"several of its top-level keys hold arrays of objects ({_listed(top)})"
        else:
            which = "none of its top-level keys holds an array of objects"
        example = (top or arrays or ["data.items"])[0]
        raise MalformedInput(
            f"the file is a JSON object, and {which}. Its keys are: {_listed(keys)}.",
            file=self.report.file,
            hint=f"Pass the dotted path to the array of records, e.g. --records {example}.",
        )

    def _survey(self) -> tuple[list[str], list[str]]:
        """Top-level keys, and the paths (outside any array) of arrays whose first element is
        an object."""
        keys: list[str] = []
        arrays: list[str] = []
        in_arrays = 0
        opened: str | None = None
        for prefix, event, value in self._feed(ijson.parse_coro):
            if opened is not None:
                if event == "start_map":
                    arrays.append(opened)
                opened = None
            if event == "map_key" and prefix == "":
                keys.append(value)
            elif event == "start_array":
                if in_arrays == 0:
                    opened = prefix
                in_arrays += 1
            elif event == "end_array":
                in_arrays -= 1
        return keys, arrays

    def _array_records(self, *, check: bool) -> Iterator[tuple[str, Any]]:
        number = self.first_record
        make = functools.partial(ijson.items_coro, prefix=self._prefix, use_float=False)
        for record in self._feed(make):
            number += 1
            yield str(number), record
        if check and number == 0 and self.source.records:
            self._check_records_path()

    def _check_records_path(self) -> None:
        """An empty array is a file with no records; a path to nothing is a mistake."""
        path = self.source.records
        kind = None
        for prefix, event, _value in self._feed(ijson.parse_coro):
            if prefix == path and event not in ("map_key", "end_map", "end_array"):
                kind = event
                break
        if kind == "start_array":
            return
        keys, arrays = self._survey()
        what = "nothing" if kind is None else f"a {kind.removeprefix('start_')}"
        raise MalformedInput(
            f"--records {path!r} leads to {what}, not an array of records. The top-level keys "
            f"are: {_listed(keys)}.",
            file=self.report.file,
            hint=f"Arrays of objects in the file: {_listed(arrays) or 'none'}.",
        )

    # -- JSON Lines ---------------------------------------------------------------------

    def _line_records(self, *, count: bool) -> Iterator[tuple[str, Any]]:
        """(line number, record) for every line holding an object. With `count`, blank lines
        are counted and every other line is rejected with its reason."""
        self._lone_surrogates = 0
        with self._text() as text:
            number = self.first_line
            while True:
                try:
                    line = text.readline()
                except UnicodeDecodeError:
                    raise self._undecodable(number + 1) from None
                if not line:
                    break
                number += 1
                if not line.strip():
                    if count:
                        self.report.skipped_blank += 1
                    continue
                raw = line.rstrip("\r\n")
                # Most lines cannot nest too deep (too few brackets) nor hold a lone surrogate
                # escape: the guard, which would return them as they are, is skipped for them.
                if line.count("{") + line.count("[") > MAX_DEPTH or _SURROGATE_ESCAPE.search(line):
                    guard = _JsonGuard(numbers=False)  # json.loads refuses one itself: a reject
                    try:
                        line = guard.feed(line, final=True)
                    except _TooDeep:
                        if count:
                            self.reject(number, f"nested more than {MAX_DEPTH} levels deep", raw)
                        continue
                    self._lone_surrogates += guard.lone_surrogates
                if _UNDECODED.search(line):
                    if count:
                        self.reject(
                            number,
                            f"holds bytes that are not valid {self.report.encoding}",
                            raw.encode(self.encoding, "surrogateescape").decode(
                                self.encoding, "backslashreplace"
                            ),
                        )
                    continue
                try:
                    if line.startswith("\ufeff"):  # as json.loads says it
                        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", line, 0)
                    # Without its line end, a line cut short is said to end at its last column,
                    # not at column 1 of a line after it.
                    record = _LINE_DECODER.decode(line.rstrip("\r\n"))
                except ValueError as exc:
                    if count:
                        if isinstance(exc, json.JSONDecodeError):
                            # Some of json's messages end in "at", to be followed by a position.
                            reason = f"{exc.msg.removesuffix(' at')} at column {exc.colno}"
                        else:
                            reason = str(exc)
                        self.reject(number, f"not valid JSON: {reason}", raw)
                    continue
                if not isinstance(record, dict):
                    if count:
                        self.reject(number, f"{_kind(record)}, not an object", raw)
                    continue
                yield str(number), record

    # -- reading ------------------------------------------------------------------------

    def _records(self, *, count: bool) -> Iterator[tuple[str, Any]]:
        if self.lines:
            return self._line_records(count=count)
        return self._array_records(check=not count)

    def keys_seen(self) -> KeysSeen:
        """The first pass over the records (of the whole file, or of this part): their keys."""
        found: dict[str, None] = {}
        objects: set[str] = set()
        valued: set[str] = set()
        # The keys, in order, of records without an object inside whose every key has had a
        # value: another such record teaches nothing, and is not walked (most of a file's are).
        known: set[tuple[str, ...]] = set()
        records = 0
        for _, record in self._records(count=False):
            records += 1
            if isinstance(record, dict):
                shape = tuple(record)
                if shape in known and dict not in set(map(type, record.values())):
                    continue
                _collect_keys(record, "", found, objects, valued)
                if dict not in set(map(type, record.values())) and valued.issuperset(shape):
                    known.add(shape)
        return KeysSeen(tuple(found), frozenset(objects), frozenset(valued), self._lone_surrogates, records)

    def survey(self, seen: KeysSeen | None = None) -> Surveyed:
        """The whole file's records' keys (`seen`, else a first pass over the file), the columns
        they become, and the notes on the whole file (renamed keys, lone surrogate escapes), put
        in the report."""
        seen = self.keys_seen() if seen is None else seen
        # {"Account": null} beside {"Account": {"Id": ...}} means no account: its dotted
        # columns are empty, it is not a column of its own.
        keys = [k for k in seen.found if k not in seen.objects or k in seen.valued]
        columns, notes = unique_columns(
            list(keys), file=self.report.file, hint="Rename that key in the file."
        )
        self.report.columns = columns
        self.report.notes.extend(notes)
        if seen.lone_surrogates:  # the values pass goes over the same strings
            self.report.notes.append(
                f"{seen.lone_surrogates} string(s) hold a lone surrogate escape such as "
                "\\ud800, which is half of a character and no character on its own; kept as "
                "the six characters written, not changed to '?'."
            )
        return Surveyed(self.encoding, tuple(keys), replace(self.report, rows=0, columns=list(columns),
                                                            notes=list(self.report.notes)))

    def _chunks(self) -> Iterator[pd.DataFrame]:
        keys = list((self.surveyed or self.survey()).keys)
        columns = self.report.columns
        rows: list[list[str | None]] = []
        locators: list[str] = []
        for locator, record in self._records(count=True):
            if not isinstance(record, dict):
                self.reject(locator, f"{_kind(record)}, not an object", _compact(record))
                continue
            rows.append(_row(record, keys))
            locators.append(locator)
            if len(rows) >= self.source.chunk_rows:
                yield self.frame(columns, rows, locators)
                rows, locators = [], []
        if rows or self.report.rows == 0:
            yield self.frame(columns, rows, locators)


class _TooDeep(Exception):
    """JSON text nested more than MAX_DEPTH levels; args: the line, counted from the text's."""


class _NumberTooLong(Exception):
    """An integer with more digits than Python makes an int of; args: the line, as _TooDeep's."""


class _StringTooLong(Exception):
    """A JSON string runs on for more than HELD_CHARS: its closing quote is missing."""


class _JsonGuard:
    """Watches JSON text on its way to the parser: nesting depth, and lone surrogates.

    The parser is fed what `feed` returns. A string still open at the end of a piece is held
    back for the next one, so that every piece checked holds whole strings. A lone surrogate
    escape (\\ud800) is no character; the parser would turn it into '?'. It is passed on with
    its backslash escaped, so that the value holds the six characters as written.
    """

    def __init__(self, *, numbers: bool = True) -> None:
        self.depth = 0
        self.held = ""  # from the opening quote of a string not closed yet
        self.resume = 0  # where in `held` to look on for its closing quote
        self.lone_surrogates = 0
        self.numbers = numbers  # whether to look for integers too long to hold
        self.tail = ""  # the end of the last piece's text outside strings: a number may go on

    def feed(self, text: str, *, final: bool = False) -> str:
        if self.held:
            text = self.held + text
            if not final:
                # Only the new part is searched for the end of the held string.
                end = _STRING_BODY.match(text, self.resume).end()  # type: ignore[union-attr]
                if end == len(text) or text[end] != '"':
                    if len(text) > HELD_CHARS:
                        raise _StringTooLong()
                    self.held, self.resume = text, end
                    return ""
        outside = _STRING.sub("", text)
        if '"' in outside and not final:  # a string opens and does not close in this piece
            cut = _UP_TO_OPEN_STRING.match(text).end()  # type: ignore[union-attr]
            text, self.held = text[:cut], text[cut:]
            self.resume = _STRING_BODY.match(self.held, 1).end()  # type: ignore[union-attr]
            outside = outside[: outside.index('"')]
        else:
            self.held = ""
        encoded = outside.encode("utf-8", "surrogatepass")
        steps = _DEPTH_STEPS[np.frombuffer(encoded, np.uint8)]
        if steps.any():
            depths = self.depth + np.cumsum(steps, dtype=np.int64)
            deepest = int(depths.argmax())
            if depths[deepest] > MAX_DEPTH:
                first = int(np.argmax(depths > MAX_DEPTH))
                raise _TooDeep(encoded[:first].count(b"\n"))
            self.depth = max(0, int(depths[-1]))
        if self.numbers and (digits := sys.get_int_max_str_digits()):
            self._integers(outside, digits)
        if _SURROGATE_ESCAPE.search(text):
            text = _ESCAPE.sub(self._escape_lone_surrogate, text)
        return text

    def _integers(self, outside: str, digits: int) -> None:
        """An integer of more than `digits` digits, which Python will not make an int of (the
        parser's C code then crashes the process, ijson 3.6): refused. A fraction's or an
        exponent's digits are not an integer's."""
        scan = self.tail + outside
        for run in _long_digits(digits).finditer(scan):
            at = run.start()
            before = scan[at - 1] if at else ""
            if before and before in ".eE+" or before == "-" and at > 1 and scan[at - 2] in "eE":
                continue
            raise _NumberTooLong(scan[len(self.tail):at].count("\n") if at > len(self.tail) else 0)
        # What the next piece's first digits may go on from: the digits this one ends in (as
        # many as can matter) and the two characters before them.
        end = _TRAILING_DIGITS.search(scan).start()  # type: ignore[union-attr]
        self.tail = scan[max(0, end - 2):end + digits + 1]

    def _escape_lone_surrogate(self, match: re.Match[str]) -> str:
        escape = match.group()
        if len(escape) == 6 and escape[2] in "dD" and escape[3] in "89abcdefABCDEF":
            self.lone_surrogates += 1
            return "\\" + escape
        return escape


@functools.cache
def _long_digits(digits: int) -> re.Pattern[str]:
    """A run of more than `digits` digits (the limit is the interpreter's, and may be changed)."""
    return re.compile(f"[0-9]{{{digits + 1},}}")


def _collect_keys(
    record: dict[str, Any], prefix: str, keys: dict[str, None], objects: set[str], valued: set[str]
) -> None:
    """Every dotted key in first-seen order; which keys hold an object somewhere, and which
    hold a value other than null or an object somewhere."""
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            objects.add(name)
            _collect_keys(value, f"{name}.", keys, objects, valued)
        else:
            keys.setdefault(name, None)
            if value is not None:
                valued.add(name)


_TEXT = frozenset((str, type(None)))
_NESTED = frozenset((dict, list))


def _row(record: dict[str, Any], keys: list[str]) -> list[str | None]:
    """A record's values in the order of `keys` (dotted for nested objects), as text. A record
    of text and nulls only, or of no object or array, is taken key by key; others flattened."""
    kinds = set(map(type, record.values()))
    get = record.get
    if kinds <= _TEXT:
        return [get(key) or None for key in keys]  # "" is no value, as cell_to_str says
    if not kinds & _NESTED:
        return [cell_to_str(get(key)) for key in keys]
    values: dict[str, str | None] = {}
    _flatten(record, "", values)
    return [values.get(key) for key in keys]


def _flatten(record: dict[str, Any], prefix: str, values: dict[str, str | None]) -> None:
    for key, value in record.items():
        if isinstance(value, dict) and value:
            _flatten(value, f"{prefix}{key}.", values)
        elif isinstance(value, (list, dict)):
            values[f"{prefix}{key}"] = _compact(value)
        else:
            values[f"{prefix}{key}"] = cell_to_str(value)


def _compact(value: Any) -> str:
    """Compact JSON text, numbers written as they were in the file."""
    if isinstance(value, dict):
        items = (f"{json.dumps(k, ensure_ascii=False)}:{_compact(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_compact(v) for v in value) + "]"
    if isinstance(value, decimal.Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _listed(names: list[str], limit: int = 20) -> str:
    listed = ", ".join(repr(shorten(name, 60)) for name in names[:limit])
    return listed + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return _KINDS.get(type(value), "a number")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# One decoder for every line (json.loads with options builds one per call).
_LINE_DECODER = json.JSONDecoder(parse_float=decimal.Decimal, parse_constant=_no_constant)
