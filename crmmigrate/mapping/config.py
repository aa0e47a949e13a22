"""The mapping file format: one legacy source to one canonical entity.

    entity: contact
    source: {encoding: cp1251, delimiter: ";"}     # optional: how to read the raw source
    fields:
      id: ContactID                                # shorthand for {from: ContactID}
      first_name:
        from: Full Name
        transforms: [strip, {split_name: first}]
      email: {from: E-mail, transforms: [strip, lower]}
      created_at: {from: Created, transforms: [{date: {formats: ["%d.%m.%Y"]}}]}
      mailing_street: {from: [Street 1, Street 2], join: ", "}
      owner: {value: migration}                    # a constant
    where:                                         # records must meet these to be kept
      - {name: last two years, field: created_at, op: ">=", value: "2023-01-01"}
    custom: [Region]                               # kept as custom fields
    drop: [Internal Notes]                         # dropped on purpose

Every source column must be mapped, kept (custom) or dropped; one the mapping does not mention
is kept as a custom field and reported.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from crmmigrate import config
from crmmigrate.config import At, BadConfig, Located
from crmmigrate.errors import did_you_mean
from crmmigrate.extract.base import ReadOptions
from crmmigrate.model import MODEL, Entity


class Strict(config.Strict):
    """A mapping's keys spelt as Python keywords (`from`, `with`) are also taken by their field
    names (`from_`, `with_`) when a model is built in code."""

    model_config = ConfigDict(populate_by_name=True)


def compiled(pattern: str, at: tuple[str, ...]) -> re.Pattern[str]:
    """`pattern` compiled, or an error at the key `at` of the model validated (its line is
    reported) saying what is wrong with the pattern and where."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise At(at, f"invalid regular expression {pattern!r}: {exc.msg}{where}") from None


class RegexExtract(Strict):
    """Keep the part of the value a regular expression captures (group 1 by default)."""

    pattern: str
    group: int | str = 1

    @model_validator(mode="after")
    def _group_exists(self) -> RegexExtract:
        pattern = compiled(self.pattern, ("pattern",))
        known = self.group in pattern.groupindex if isinstance(self.group, str) else 0 <= self.group <= pattern.groups
        if not known:
            raise At(("group",), f"the pattern {self.pattern!r} has no group {self.group!r}")
        return self


class RegexReplace(Strict):
    """Replace every match of a regular expression (`with` may use \\1 back-references)."""

    pattern: str
    with_: str = Field("", alias="with")

    @model_validator(mode="after")
    def _references_exist(self) -> RegexReplace:
        pattern = compiled(self.pattern, ("pattern",))
        # An empty match with the same groups expands `with` as every real match would.
        names = {index: name for name, index in pattern.groupindex.items()}
        same_groups = "".join(f"(?P<{names[i]}>)" if i in names else "()" for i in range(1, pattern.groups + 1))
        try:
            re.compile(same_groups).fullmatch("").expand(self.with_)  # type: ignore[union-attr]
        except (re.error, IndexError) as exc:
            raise At(("with",), f"'with' {self.with_!r} does not fit the pattern {self.pattern!r}: {exc}") from None
        return self


class Split(Strict):
    """Split on a separator and keep one part (0 is the first, -1 the last)."""

    sep: str
    index: int


class ValueMap(Strict):
    """Picklist translation. A value no entry covers becomes `default` when one is given, or
    stays as it is; either way it is reported."""

    values: dict[str, str | None]
    default: str | None = None
    case_sensitive: bool = False


class DateParse(Strict):
    """Dates tried against `formats` in order (strftime codes); without formats, ISO and the
    common patterns, with `dayfirst` deciding nn/nn/yyyy (unset: a value that reads as two
    different dates is invalid)."""

    formats: list[str] = []
    dayfirst: bool | None = None


class NumberParse(Strict):
    """Numbers with `.` or `,` as decimal mark and any thousands separators. With `auto`, a
    lone separator followed by exactly three digits ("1.234") is ambiguous and invalid."""

    decimal: Literal[".", ",", "auto"] = "auto"


class BooleanParse(Strict):
    """Booleans in several languages; the lists replace the built-in words when given."""

    true: list[str] | None = None
    false: list[str] | None = None


class Lookup(Strict):
    """Replace a value by another found in another source, e.g. an account id by its name."""

    source: str | dict[str, Any] = Field(description="a file or URL, or its Source options")
    match: str = Field(description="the column of the lookup source the value is matched with")
    value: str = Field(description="the column of the lookup source that replaces the value")
    case_sensitive: bool = False


FLAGS = ("strip", "collapse", "upper", "lower", "title", "split_name", "integer")
STEP_NAMES = (
    "strip", "collapse", "upper", "lower", "title", "regex_extract", "regex_replace", "split",
    "split_name", "map", "date", "datetime", "number", "integer", "boolean", "lookup", "default",
)


class Step(Strict):
    """One transform. In YAML: a bare name (`strip`) or a one-key mapping (`{split: ...}`)."""

    strip: bool | None = None
    collapse: bool | None = None
    upper: bool | None = None
    lower: bool | None = None
    title: bool | None = None
    regex_extract: RegexExtract | None = None
    regex_replace: RegexReplace | None = None
    split: Split | None = None
    split_name: Literal["first", "last"] | None = None
    map: ValueMap | None = None
    date: DateParse | None = None
    datetime: DateParse | None = None
    number: NumberParse | None = None
    integer: bool | None = None
    boolean: BooleanParse | None = None
    lookup: Lookup | None = None
    default: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            if data not in STEP_NAMES:
                guess = did_you_mean(data, STEP_NAMES)
                raise ValueError(
                    f"unknown transform {data!r}" + (f" (did you mean {guess!r}?)" if guess else "")
                )
            if data not in FLAGS or data == "split_name":
                if data in ("date", "datetime", "number", "boolean"):
                    return {data: {}}
                raise ValueError(f"transform {data!r} needs options: write {{{data}: ...}}")
            return {data: True}
        if isinstance(data, dict) and len(data) == 1:
            (name, options), = data.items()
            if options is None and name in ("date", "datetime", "number", "boolean"):
                return {name: {}}
            if name == "regex_extract" and isinstance(options, str):
                return {name: {"pattern": options}}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        given = [name for name in STEP_NAMES if getattr(self, name) not in (None, False)]
        if len(given) != 1:
            raise ValueError(f"a transform names exactly one operation, not {given or 'none'}")
        return self

    @property
    def name(self) -> str:
        return next(n for n in STEP_NAMES if getattr(self, n) not in (None, False))

    @property
    def options(self) -> Any:
        return getattr(self, self.name)


class FieldMap(Strict):
    """Where one canonical field comes from and how it is transformed."""

    from_: str | list[str] | None = Field(None, alias="from")
    join: str = " "
    value: str | None = None
    default: str | None = None
    transforms: list[Step] = []

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, (str, list)):
            return {"from": data}
        return data

    @model_validator(mode="after")
    def _one_origin(self) -> FieldMap:
        if (self.from_ is None) == (self.value is None):
            raise ValueError("give either 'from' (source columns) or 'value' (a constant)")
        return self

    @property
    def columns(self) -> list[str]:
        if self.from_ is None:
            return []
        return [self.from_] if isinstance(self.from_, str) else list(self.from_)


Op = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "blank", "not_blank", "matches"]


class Filter(Strict):
    """A condition a record must meet to be kept; a record that fails it is `filtered`."""

    name: str
    field: str
    op: Op
    value: str | float | list[str] | None = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Filter:
        if self.op in ("blank", "not_blank"):
            if self.value is not None:
                raise ValueError(f"op {self.op!r} takes no value")
        elif self.op in ("in", "not_in"):
            if not isinstance(self.value, list):
                raise ValueError(f"op {self.op!r} takes a list of values")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} takes one value")
        if self.op == "matches":
            compiled(str(self.value), ("value",))
        return self


class SourceOptions(ReadOptions):
    """How to read the raw source (extract's `ReadOptions`, checked as the command line's are);
    any of these can still be given on the command line. A legacy source is never a staged
    parquet file, so that format is not one of a mapping's."""

    format: Literal["csv", "excel", "json", "jsonl", "sql"] | None = None

    def given(self) -> dict[str, Any]:
        """The options this mapping sets, as keyword arguments for a `Source`."""
        return self.model_dump(exclude_none=True)


class Mapping(Strict):
    """One legacy source mapped to one canonical entity."""

    entity: str
    description: str | None = None
    source: SourceOptions = SourceOptions()
    fields: dict[str, FieldMap]
    where: list[Filter] = []
    custom: list[str] = []
    drop: list[str] = []

    _file: str = PrivateAttr("")
    _located: Located = PrivateAttr(default_factory=lambda: Located(None))

    @field_validator("entity")
    @classmethod
    def _known_entity(cls, value: str) -> str:
        if value not in MODEL.names:
            raise ValueError(MODEL.unknown(value))
        return value

    @property
    def model_entity(self) -> Entity:
        return MODEL.entity(self.entity)

    @property
    def file(self) -> str:
        return self._file

    def line(self, *path: Any) -> int | None:
        return self._located.line(path)

    def error(self, message: str, *path: Any, hint: str | None = None) -> BadConfig:
        """A BadConfig pointing at the line of `path` in this mapping file."""
        return BadConfig(message, file=self._file or None, line=self.line(*path), hint=hint)

    @property
    def mentioned_columns(self) -> set[str]:
        mentioned = set(self.custom) | set(self.drop)
        for spec in self.fields.values():
            mentioned.update(spec.columns)
        return mentioned

    def check_targets(self) -> None:
        """Every field named is a field of the entity; every filter names a mapped field."""
        entity = self.model_entity
        for name in self.fields:
            if name not in entity:
                guess = did_you_mean(name, entity.field_names)
                raise self.error(
                    f"{self.entity} has no field {name!r}"
                    + (f" (did you mean {guess!r}?)." if guess else "."),
                    "fields",
                    name,
                    hint=f"Fields of {self.entity}: {', '.join(entity.field_names)}.",
                )
        for index, rule in enumerate(self.where):
            if rule.field not in self.fields:
                guess = did_you_mean(rule.field, list(self.fields))
                raise self.error(
                    f"filter {rule.name!r} tests field {rule.field!r}, which this mapping does "
                    "not map" + (f" (did you mean {guess!r}?)." if guess else "."),
                    "where",
                    index,
                    "field",
                )
        if "id" not in self.fields:
            raise self.error(
                f"the mapping does not map {self.entity}.id, the legacy id every record is "
                "tracked by.",
                "fields",
                hint="Map the source's id column, or combine columns that identify a record.",
            )

    def check_columns(self, columns: list[str]) -> None:
        """Every source column the mapping names exists in the source."""
        available = set(columns)
        places: list[tuple[str, tuple[Any, ...]]] = []
        for name, spec in self.fields.items():
            for column in spec.columns:
                places.append((column, ("fields", name)))
        places += [(c, ("custom", i)) for i, c in enumerate(self.custom)]
        places += [(c, ("drop", i)) for i, c in enumerate(self.drop)]
        for column, path in places:
            if column not in available:
                guess = did_you_mean(column, columns)
                raise self.error(
                    f"the source has no column {column!r}"
                    + (f" (did you mean {guess!r}?)." if guess else "."),
                    *path,
                    hint=f"Its columns: {', '.join(columns)}.",
                )


def load_mapping(path: Path) -> Mapping:
    """A mapping file parsed strictly, with every problem located by file and line."""
    path = Path(path)
    data, located = config.read_yaml(path)
    if data is None:
        raise BadConfig("the file is empty.", file=str(path))
    mapping = config.parse(Mapping, data, located, file=str(path))
    mapping._file = str(path)
    mapping._located = located
    mapping.check_targets()
    return mapping
