"""Errors raised by the library, one class per cause.

Every message says what was wrong, where (file, line or row, column) and how to fix it. The CLI
turns them into a one-paragraph message and an exit code; the library never prints or exits.
"""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import process

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
# The machine cut the run short: one of its processes (or a cluster's workers) was killed, out
# of memory most likely. Nothing says the input was wrong: with more memory, smaller parts or a
# quiet source, the same run may pass.
EXIT_LOST = 4


def did_you_mean(word: str, choices: Iterable[str], *, cutoff: float = 60) -> str | None:
    """The closest choice to a mistyped word, or None when nothing is close."""
    found = process.extractOne(word, list(choices), score_cutoff=cutoff)
    return found[0] if found else None


class CrmMigrateError(Exception):
    """Base of every error crmmigrate reports to its user."""

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        message: str,
        *more: object,  # Dask cuts a long error short on a worker as type(e)("Long error message", text)
        file: str | None = None,
        line: int | str | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = ": ".join([message, *map(str, more)])
        self.file = file
        self.line = line
        self.column = column
        self.hint = hint
        super().__init__(str(self))

    def __reduce__(self) -> tuple:
        # Raised on a worker of the cluster engine, it is pickled back to the run: whole, with
        # its file, line, column and hint (Exception's own pickling would pass only the text).
        return _rebuilt, (type(self), dict(self.__dict__))

    @property
    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" {self.hint}"
        return text


def _rebuilt(kind: type[CrmMigrateError], state: dict) -> CrmMigrateError:
    error = kind.__new__(kind)
    error.__dict__.update(state)
    Exception.__init__(error, str(error))
    return error


class BadUsage(CrmMigrateError):
    """Options that do not fit together or are out of range."""


class InputNotFound(CrmMigrateError):
    """The source file does not exist or cannot be opened."""


class EmptyInput(CrmMigrateError):
    """The source has no bytes, or no header and no rows."""


class BinaryInput(CrmMigrateError):
    """The source is not text in any encoding, or is a different format than asked."""


class UndecodableInput(CrmMigrateError):
    """Bytes that do not decode in the detected or forced encoding."""


class UnsupportedFormat(CrmMigrateError):
    """A file format crmmigrate does not read."""


class MalformedInput(CrmMigrateError):
    """A file that cannot be parsed as its format at all (as opposed to one bad row)."""


class UnknownSheet(CrmMigrateError):
    """An Excel sheet name or number that the workbook does not have."""


class BadSourceURL(CrmMigrateError):
    """A SQLAlchemy URL that cannot be parsed, or names a driver that is not installed."""


class SourceUnreachable(CrmMigrateError):
    """A database that refused or did not answer the connection."""


class UnknownTable(CrmMigrateError):
    """A table that the source database does not have."""


class BadQuery(CrmMigrateError):
    """A SQL query the source database rejected."""


class OutputError(CrmMigrateError):
    """An output file that cannot be written."""


class NotADatabase(CrmMigrateError):
    """A target path that holds something other than a database (a CSV file, a text file)."""


class TargetFull(CrmMigrateError):
    """A target database whose disk (or size limit) is full."""


class ForeignTables(CrmMigrateError):
    """Tables in the target with the names of crmmigrate's tables that are not crmmigrate's."""


class TooLong(CrmMigrateError):
    """A name longer than its column in the target schema can hold."""


class NotAFile(CrmMigrateError):
    """A source path that is a directory, FIFO, device or socket rather than a regular file."""


class InputBeyondLimits(CrmMigrateError):
    """A source wider or more deeply nested than crmmigrate reads safely."""
