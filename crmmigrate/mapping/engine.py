"""Apply a mapping to a source, chunk by chunk: canonical records, filtered records, a report.

Only filters remove rows. A value a transform cannot parse stays as it was (validation counts
it) and its reason goes into the record's `_issues`. Columns the mapping does not mention are
kept in `_custom` and reported, so nothing typed into the old system is lost.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crmmigrate.extract import ExtractReport, Source, open_source, rejects_frame
from crmmigrate.mapping.config import Filter, Mapping, Step
from crmmigrate.mapping.transforms import Invalid, PicklistMap, Transform, compile_step
from crmmigrate.model import PROVENANCE, FieldType
from crmmigrate.passwords import mask_url
from crmmigrate.staging import ChunkWriter, write_frames

CUSTOM_COLUMN = "_custom"
ISSUES_COLUMN = "_issues"
FILTERED_COLUMNS = ("_source", "_file", "_row", "id", "status", "reason")
SAMPLES_PER_FIELD = 5


@dataclass
class MapReport:
    """What mapping did: counts in and out, filters, invalid values and unmapped picklist values."""

    entity: str
    mapping: str
    rows_in: int = 0
    rows_out: int = 0
    filtered: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, dict[str, int]] = field(default_factory=dict)
    invalid_samples: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    unmapped: dict[str, dict[str, int]] = field(default_factory=dict)
    unmentioned: list[str] = field(default_factory=list)
    custom: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MapResult:
    frame: pd.DataFrame
    filtered: pd.DataFrame
    report: MapReport


class _Field:
    """One canonical field's compiled recipe."""

    def __init__(self, name: str, spec: Any, lookups: dict[int, Transform]) -> None:
        self.name = name
        self.spec = spec
        self.steps: list[tuple[Step, Transform | None]] = []
        for step in spec.transforms:
            self.steps.append((step, None if step.name == "default" else compile_step(step, lookups)))


@dataclass
class MapTally:
    """What a Mapper counted over the chunks it mapped: what another Mapper of the same source
    adds to its own (`Mapper.absorb`) when the source's parts are mapped apart (the cluster
    engine maps a partition on each worker)."""

    rows_in: int
    rows_out: int
    filtered: Counter[str]
    invalid: dict[str, Counter[str]]
    samples: dict[str, list[dict[str, str]]]
    unmapped: dict[str, Counter[tuple[str, str | None]]]


class Mapper:
    """Maps the chunks of one source; the report grows with every chunk."""

    def __init__(self, mapping: Mapping, columns: list[str], *, base: Path | None = None,
                 allowed: Callable[[str], Collection[str]] | None = None) -> None:
        """`allowed`: per field, the values validation accepts (default: its rules' choices);
        a value no map entry covers is reported only when its mapped value is not one."""
        mapping.check_columns(columns)
        self.mapping = mapping
        self.allowed = allowed
        self.entity = mapping.model_entity
        mentioned = mapping.mentioned_columns
        source_columns = [c for c in columns if c not in PROVENANCE]
        unmentioned = [c for c in source_columns if c not in mentioned]
        self.kept = [c for c in source_columns if c in mapping.custom or c in unmentioned]
        self.report = MapReport(
            entity=mapping.entity,
            mapping=mapping.file,
            unmentioned=unmentioned,
            custom=list(mapping.custom),
            dropped=list(mapping.drop),
        )
        lookups = self._lookups(base or (Path(mapping.file).parent if mapping.file else Path(".")))
        self.fields = [_Field(name, spec, lookups) for name, spec in mapping.fields.items()]
        self._invalid: dict[str, Counter[str]] = {}
        self._unmapped: dict[str, Counter[tuple[str, str | None]]] = {}  # (value, value mapped)
        self._filtered: Counter[str] = Counter()

    # -- lookups --------------------------------------------------------------------------

    def _lookups(self, base: Path) -> dict[int, Transform]:
        tables: dict[int, Transform] = {}
        for name, spec in self.mapping.fields.items():
            for index, step in enumerate(spec.transforms):
                if step.name == "lookup":
                    tables[id(step)] = self._lookup(step, base, ("fields", name, "transforms", index))
        return tables

    def _lookup(self, step: Step, base: Path, path: tuple[Any, ...]) -> Transform:
        options = step.lookup
        assert options is not None
        spec = options.source if isinstance(options.source, dict) else {"location": options.source}
        location = spec.get("location", "")
        if "://" not in location and not Path(location).is_absolute():
            location = str(base / location)
        frame = open_source(Source(**{**spec, "location": location})).read()
        for column in (options.match, options.value):
            if column not in frame.columns:
                raise self.mapping.error(
                    f"the lookup source {mask_url(location)} has no column {column!r}.",
                    *path,
                    hint=f"Its columns: {', '.join(c for c in frame.columns if c not in PROVENANCE)}.",
                )
        fold = (lambda s: s) if options.case_sensitive else (lambda s: " ".join(s.split()).casefold())
        table: dict[str, set[str]] = {}
        for key, value in zip(frame[options.match], frame[options.value], strict=True):
            if isinstance(key, str) and isinstance(value, str):
                table.setdefault(fold(key), set()).add(value)

        def run(value: str) -> str | None:
            found = table.get(fold(value))
            if not found:
                raise Invalid(f"has no match in {options.match!r} of the lookup source")
            if len(found) > 1:
                raise Invalid(f"matches {len(found)} different {options.value!r} in the lookup source")
            return next(iter(found))

        return run

    # -- mapping a chunk ------------------------------------------------------------------

    def map(self, chunk: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Canonical records and filtered records of one chunk of the source."""
        index = chunk.index
        out: dict[str, pd.Series] = {}
        reasons: dict[str, pd.Series] = {}
        originals: dict[str, pd.Series] = {}
        uncovered: dict[str, pd.Series] = {}
        for f in self.fields:
            values, why, original, unmapped = self._field(f, chunk)
            out[f.name] = values
            reasons[f.name] = why
            originals[f.name] = original
            uncovered[f.name] = unmapped
        columns = {}
        for name in self.entity.field_names:
            columns[name] = out.get(name, pd.Series(None, index=index, dtype="str"))
        columns[CUSTOM_COLUMN] = _custom(chunk, self.kept)
        columns[ISSUES_COLUMN] = _issues(index, reasons, originals)
        for name in PROVENANCE:
            columns[name] = chunk[name] if name in chunk else pd.Series(None, index=index, dtype="str")
        frame = pd.DataFrame(columns, index=index).astype("str")
        frame[[CUSTOM_COLUMN, ISSUES_COLUMN]] = frame[[CUSTOM_COLUMN, ISSUES_COLUMN]].where(
            pd.DataFrame({CUSTOM_COLUMN: columns[CUSTOM_COLUMN].notna(),
                          ISSUES_COLUMN: columns[ISSUES_COLUMN].notna()}), None
        )
        keep, failed = self._filter(frame, reasons)
        filtered = pd.DataFrame(
            {
                "_source": frame["_source"][~keep],
                "_file": frame["_file"][~keep],
                "_row": frame["_row"][~keep],
                "id": frame["id"][~keep],
                "status": "filtered",
                "reason": failed[~keep],
            },
            columns=list(FILTERED_COLUMNS),
        )
        result = frame[keep].reset_index(drop=True)
        self.report.rows_in += len(chunk)
        self.report.rows_out += len(result)
        # Counted on the records that go on, as validation will see them.
        self._count_invalid({k: v[keep] for k, v in reasons.items()}, originals, frame)
        for name, values in uncovered.items():
            hit = keep & values.notna()
            if hit.any():
                mapped_to = out[name][hit].map(lambda v: v.strip() if isinstance(v, str) else None)
                self._unmapped.setdefault(name, Counter()).update(
                    zip(values[hit].astype(str), mapped_to, strict=True))
        return result, filtered.reset_index(drop=True)

    def _field(
        self, f: _Field, chunk: pd.DataFrame
    ) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
        """The field's values; per row, why a value did not parse, the value before the
        transforms, and the value no picklist entry covered."""
        index = chunk.index
        spec = f.spec
        if len(spec.columns) == 1 and not f.steps and spec.default is None and spec.value is None \
                and chunk[spec.columns[0]].dtype == "str":
            # A column taken as it is: its text as read, the dtype the records are made of
            # (`map` would turn it into Python strings and back for nothing).
            values = chunk[spec.columns[0]]
            nothing = pd.Series(None, index=index, dtype=object)
            return values, nothing, values, nothing
        if spec.value is not None:
            values = pd.Series(spec.value, index=index, dtype=object)
        elif len(spec.columns) == 1:
            values = chunk[spec.columns[0]].astype(object)
        else:
            parts = chunk[spec.columns].astype(object)
            values = parts.apply(
                lambda row: spec.join.join(v for v in row if isinstance(v, str) and v.strip()) or None,
                axis=1,
            ) if len(chunk) else pd.Series(None, index=index, dtype=object)
        values = values.where(values.notna(), None)
        original = values.copy()
        why = pd.Series(None, index=index, dtype=object)
        unmapped = pd.Series(None, index=index, dtype=object)
        for step, run in f.steps:
            if run is None:  # `default`: fills what is still empty, and only that
                empty = values.isna() | values.map(lambda v: isinstance(v, str) and not v.strip())
                values = values.mask(empty & why.isna(), step.default)
                continue
            active = (values.notna() & why.isna()).to_numpy()
            if not active.any():
                continue
            # Each distinct value is judged once; `codes` say which one each active row holds.
            codes, distinct = pd.factorize(values.to_numpy(dtype=object)[active])
            bulk = getattr(run, "bulk", None)  # what a transform reads for many values at once
            results: dict[str, Any] = bulk(distinct) if bulk is not None else {}
            failures: dict[str, str] = {}
            for value in distinct:
                if value in results:
                    continue
                try:
                    results[value] = run(value)
                except Invalid as exc:
                    failures[value] = f"{step.name}: {value!r} {exc}"
            rows = np.flatnonzero(active)
            if isinstance(run, PicklistMap) and run.unmapped:
                left = np.fromiter((v in run.unmapped for v in distinct), dtype=bool, count=len(distinct))
                hit = rows[left[codes]]
                unmapped = unmapped.copy()
                unmapped.iloc[hit] = values.to_numpy(dtype=object)[hit]
                run.unmapped.clear()
            bad = np.fromiter((v in failures for v in distinct), dtype=bool, count=len(distinct))
            answers = np.empty(len(distinct), dtype=object)
            for i, value in enumerate(distinct):  # one by one: an answer may be a sequence
                answers[i] = failures[value] if bad[i] else results[value]
            failed = bad[codes]
            why = why.copy()
            why.iloc[rows[failed]] = answers[codes[failed]]
            changed = values.to_numpy(dtype=object).copy()
            changed[rows[~failed]] = answers[codes[~failed]]
            values = pd.Series(changed, index=index, dtype=object)
            values = values.where(values.notna(), None)
        if spec.default is not None:
            empty = values.isna() & why.isna()
            values = values.mask(empty, spec.default)
        return values, why, original, unmapped

    def _filter(self, frame: pd.DataFrame, reasons: dict[str, pd.Series]) -> tuple[pd.Series, pd.Series]:
        keep = pd.Series(True, index=frame.index)
        failed = pd.Series(None, index=frame.index, dtype=object)
        for rule in self.mapping.where:
            ftype = self.entity.field(rule.field).type
            passes = _condition(rule, frame[rule.field], reasons[rule.field], ftype)
            newly = keep & ~passes
            failed = failed.mask(newly, rule.name)
            self._filtered[rule.name] += int(newly.sum())
            keep &= passes
        return keep, failed

    def _count_invalid(
        self, reasons: dict[str, pd.Series], originals: dict[str, pd.Series], frame: pd.DataFrame
    ) -> None:
        for name, why in reasons.items():
            bad = why.notna()
            if not bad.any():
                continue
            counter = self._invalid.setdefault(name, Counter())
            samples = self.report.invalid_samples.setdefault(name, [])
            for row in why[bad].index:
                reason = why[row]
                kind = issue_kind(reason)
                counter[kind] += 1
                # A few per field, and one of each kind, so every kind has its example.
                if len(samples) < SAMPLES_PER_FIELD or counter[kind] == 1:
                    samples.append(
                        {"row": str(frame.at[row, "_row"]), "value": str(originals[name][row]),
                         "reason": reason}
                    )

    def tally(self) -> MapTally:
        """What this mapper has counted so far."""
        return MapTally(self.report.rows_in, self.report.rows_out, self._filtered, self._invalid,
                        self.report.invalid_samples, self._unmapped)

    def absorb(self, later: MapTally) -> None:
        """Count what another mapper of this source counted over the chunks that follow this
        one's, as if this one had mapped them: the report is the one mapping them all gives."""
        self.report.rows_in += later.rows_in
        self.report.rows_out += later.rows_out
        self._filtered.update(later.filtered)
        for name, theirs in later.samples.items():
            # Their samples hold every row mapping them here would have taken (a few per field,
            # and the first of each kind): taken again by the same rule, with this mapper's counts.
            counter = self._invalid.setdefault(name, Counter())
            samples = self.report.invalid_samples.setdefault(name, [])
            new_kinds: set[str] = set()
            for sample in theirs:
                kind = issue_kind(sample["reason"])
                first = counter[kind] == 0 and kind not in new_kinds
                new_kinds.add(kind)
                if len(samples) < SAMPLES_PER_FIELD or first:
                    samples.append(sample)
        for name, counts in later.invalid.items():
            self._invalid.setdefault(name, Counter()).update(counts)
        for name, pairs in later.unmapped.items():
            self._unmapped.setdefault(name, Counter()).update(pairs)

    def finish(self) -> MapReport:
        self.report.filtered = {r.name: self._filtered.get(r.name, 0) for r in self.mapping.where}
        self.report.invalid = {k: dict(v.most_common()) for k, v in self._invalid.items()}
        self.report.unmapped = self._not_allowed()
        return self.report

    def _not_allowed(self) -> dict[str, dict[str, int]]:
        """The values no map entry covered whose mapped value validation would refuse: a value
        already allowed (`Closed Won`, or `closed won` that a `title` step makes one) needs
        no entry."""
        if not self._unmapped:
            return {}
        allowed = self.allowed or _rules_allowed(self.entity.name)
        found: dict[str, dict[str, int]] = {}
        for name, pairs in self._unmapped.items():
            choices = set(allowed(name))
            counts: Counter[str] = Counter()
            for (value, mapped), count in pairs.items():
                if not choices or mapped not in choices:
                    counts[value] += count
            if counts:
                found[name] = dict(counts.most_common())
        return found


def _rules_allowed(entity: str) -> Callable[[str], Collection[str]]:
    """Per field of `entity`, the values the validation rules (the project's own, else the
    defaults) accept."""
    from crmmigrate.validate.rules import load_rules  # validation reads mapped data: not at import

    rules = load_rules()
    return lambda name: rules.allowed(entity, name)


def issue_kind(reason: str) -> str:
    """An `_issues` reason without its value ("date: is not a date in the format(s) %d.%m.%Y"):
    how the report counts them, and finds a kind's example."""
    return reason.split(":", 1)[0] + ": " + _reason_kind(reason)


def _reason_kind(reason: str) -> str:
    """A reason without the value in it, so reasons of one kind are counted together."""
    return re.sub(r"^[a-z_]+: '.*?' ", "", reason, flags=re.S)


def issue_reasons(frame: pd.DataFrame, name: str, rows: pd.Series) -> pd.Series:
    """For the `rows` (a mask) of a mapped frame, why a transform of the mapping could not
    parse field `name` ("is not a date: day 31 does not exist in February 2021 (read as
    DD.MM.YYYY)"), from `_issues`: the value was kept as it was for that reason. None where
    no transform refused it (a frame without `_issues` has none)."""
    found = pd.Series(None, index=frame.index, dtype=object)
    if ISSUES_COLUMN not in frame:
        return found
    listed = rows & frame[ISSUES_COLUMN].notna()
    for row, text in frame.loc[listed, ISSUES_COLUMN].items():
        for issue in json.loads(text):
            if issue.get("field") == name:
                found[row] = _reason_kind(str(issue.get("reason", "")))
    return found


def _custom(chunk: pd.DataFrame, kept: list[str]) -> pd.Series:
    if not kept:
        return pd.Series(None, index=chunk.index, dtype=object)
    # Each row's {"column": "value", ...} of its text values, as json.dumps writes it, built a
    # column at a time: each distinct value escaped once, the pieces joined across the rows.
    texts = np.full(len(chunk), "", dtype=object)
    for column in kept:
        values = chunk[column].to_numpy(dtype=object)
        present = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))
        codes, distinct = pd.factorize(values[present])
        escaped = np.array([json.dumps(v, ensure_ascii=False) for v in distinct] or [""], dtype=object)[codes]
        so_far = texts[present]
        texts[present] = np.where(so_far == "", "", so_far + ", ") + (json.dumps(column, ensure_ascii=False) + ": ") + escaped
    return pd.Series(np.where(texts == "", None, "{" + texts + "}"), index=chunk.index, dtype=object)


def _issues(index: pd.Index, reasons: dict[str, pd.Series], originals: dict[str, pd.Series]) -> pd.Series:
    found: dict[Any, list[dict[str, str]]] = {}
    for name, why in reasons.items():
        for row in why[why.notna()].index:
            value = originals[name][row]
            found.setdefault(row, []).append({"field": name, "value": value, "reason": why[row]})
    texts = [json.dumps(found[row], ensure_ascii=False) if row in found else None for row in index]
    return pd.Series(texts, index=index, dtype=object)


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _condition(rule: Filter, values: pd.Series, why: pd.Series, ftype: FieldType) -> pd.Series:
    """Whether each record meets the rule. A record the rule cannot judge (a value that did
    not parse, a blank tested with <) is kept: filters remove only what they clearly match."""
    present = values.notna() & why.isna()
    blank = values.isna() | values.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)
    if rule.op == "blank":
        return blank
    if rule.op == "not_blank":
        return ~blank
    if rule.op == "in":
        return ~present | values.isin(rule.value)
    if rule.op == "not_in":
        return ~present | ~values.isin(rule.value)
    if rule.op == "matches":
        pattern = re.compile(str(rule.value))
        return ~present | values.map(
            lambda v: bool(pattern.search(v)) if isinstance(v, str) else True
        ).astype(bool)
    target: Any = rule.value
    if ftype in (FieldType.DECIMAL, FieldType.INTEGER):
        numbers = pd.to_numeric(values, errors="coerce")
        judged = present & numbers.notna()
        left, target = numbers, float(rule.value)  # type: ignore[arg-type]
    elif ftype in (FieldType.DATE, FieldType.DATETIME):
        judged = present & values.map(lambda v: isinstance(v, str) and bool(_ISO.match(v))).astype(bool)
        left, target = values, str(rule.value)
    else:
        judged = present
        left, target = values, str(rule.value)
    compare = {
        "==": lambda a: a == target,
        "!=": lambda a: a != target,
        "<": lambda a: a < target,
        "<=": lambda a: a <= target,
        ">": lambda a: a > target,
        ">=": lambda a: a >= target,
    }[rule.op]
    outcome = pd.Series(True, index=values.index)
    outcome[judged] = compare(left[judged]).astype(bool)
    return outcome


def map_frame(mapping: Mapping, frame: pd.DataFrame, *, base: Path | None = None) -> MapResult:
    """Map a whole frame (an extracted source, provenance columns included)."""
    mapper = Mapper(mapping, list(frame.columns), base=base)
    mapped, filtered = mapper.map(frame)
    return MapResult(mapped, filtered, mapper.finish())


def map_source(
    mapping: Mapping, source: Source, output: Path, *, filtered: Path, rejects: Path
) -> tuple[MapReport, ExtractReport]:
    """Map a source into a staged file, chunk by chunk. Filtered records go to their own file
    (the ledger's `filtered` entries: provenance, legacy id, status, the filter's name), and
    rows the source could not read to the rejects file, as `extract` does."""
    extraction = open_source(source)
    chunks = extraction.chunks()
    first = next(chunks, None)
    if first is None:
        first = pd.DataFrame(columns=[*extraction.report.columns, *PROVENANCE], dtype="str")
    mapper = Mapper(mapping, list(first.columns))
    with ChunkWriter(output) as writer, ChunkWriter(filtered) as removed:
        for chunk in itertools.chain([first], chunks):
            mapped, dropped = mapper.map(chunk)
            writer.write(mapped)
            removed.write(dropped)
    write_frames(rejects, [rejects_frame(extraction.rejects)])
    return mapper.finish(), extraction.report
