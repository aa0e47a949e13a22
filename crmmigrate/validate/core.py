"""Validate canonical datasets: pandera schemas derived from the model and rules, checks across
records and entities, and the error-rate gate per entity and field.

Every failure is collected (lazy validation), never only the first: each failing value with
its provenance and reason, and per field the rows with an error against the threshold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
from pandera.errors import SchemaErrors

from crmmigrate import countries
from crmmigrate.mapping.engine import issue_reasons
from crmmigrate.model import ANY_ENTITY, MODEL, Entity, FieldType
from crmmigrate.progress import Progress, Tally
from crmmigrate.text import among, trimmed
from crmmigrate.validate import checks
from crmmigrate.validate.result import (
    FAILURE_COLUMNS,
    SAMPLES_PER_CHECK,
    Check,
    EntityResult,
    ValidationResult,
)
from crmmigrate.validate.rules import FieldRule, Thresholds, ValidationRules

MISSING = "missing required value"


@dataclass
class _Rule:
    """A named check of one field: a function of the whole frame giving, per row, a reason."""

    field: str
    name: str
    run: Callable[[pd.DataFrame], pd.Series]


class _Reasons:
    """Runs each rule once and remembers its reasons, so pandera's boolean checks and the
    failure report agree without computing anything twice; `tally` is told the rows checked,
    counted a rule at a time (of `rules`)."""

    def __init__(self, frame: pd.DataFrame, tally: Tally | None = None, rules: int = 0) -> None:
        self.frame = frame
        self.found: dict[str, pd.Series] = {}
        self.tally, self.rules = tally, rules

    def check(self, rule: _Rule) -> pa.Check:
        def passes(_: pd.Series) -> pd.Series:
            reasons = rule.run(self.frame)
            self.found[f"{rule.field}:{rule.name}"] = reasons
            if self.tally is not None:
                self.tally.part(len(self.found), self.rules)
            return reasons.isna()

        return pa.Check(passes, name=f"{rule.field}:{rule.name}", error=rule.name)


def _blank(values: pd.Series) -> pd.Series:
    return values.isna() | (values.astype("str").str.strip() == "")


class Targets:
    """What pointers may lead to, per entity: the legacy ids of its records in this run, else
    those already loaded in the target (when the caller knows them); read once from the
    datasets, and small enough to send to the workers that check a slice of rows each."""

    def __init__(self, frames: dict[str, pd.DataFrame], loaded: dict[str, set[str]] | None = None) -> None:
        self.in_run = set(frames)
        self._frames = frames
        self._loaded = loaded
        self._ids: dict[str, pyarrow.Array | None] = {}

    def ids(self, entity: str) -> pyarrow.Array | None:
        """The legacy ids a pointer into `entity` may name, distinct and trimmed, as Arrow text
        (`among` takes them as they are); None when neither is known."""
        if entity not in self._ids:
            frame = self._frames.get(entity)
            if frame is not None:
                self._ids[entity] = pc.unique(trimmed(frame["id"]).drop_null())
            elif self._loaded is not None and entity in self._loaded:
                self._ids[entity] = pyarrow.array(sorted(self._loaded[entity]), pyarrow.large_string())
            else:
                self._ids[entity] = None
        return self._ids[entity]

    def nowhere(self, target: str) -> str:
        """Why a pointer into `target` fails: a record missing from this run's data, or (for an
        entity outside the run) from the target too."""
        return f"points to no {target}" if target in self.in_run else load_first(target)

    def __getstate__(self) -> dict:
        # Sent to a worker: the ids every pointer needs, not the frames they were read from.
        for entity in MODEL.names:
            self.ids(entity)
        return {"in_run": self.in_run, "_frames": {}, "_loaded": None, "_ids": self._ids}


def load_first(target: str) -> str:
    """The reason of a pointer into `target`, an entity outside the run, to a record that is
    not loaded in the target either: `target` must be loaded first."""
    return f"points to no {target} in this run or loaded in the target (load {target} first)"


class EntityValidator:
    """The rules of one entity, built from the model, the rules file and the other datasets."""

    def __init__(
        self,
        entity: Entity,
        targets: Targets,
        rules: ValidationRules,
        notes: list[str],
        regions: dict[str, str] | None = None,
    ) -> None:
        self.entity = entity
        self.targets = targets
        self.regions = regions
        self.rules = rules
        self.notes = notes
        self.field_rules = rules.entities.get(entity.name)
        self.list: list[_Rule] = []
        for field in entity.fields:
            self._field(field)
        self._across_fields()

    def _rule(self, field: str) -> FieldRule:
        if self.field_rules and field in self.field_rules.fields:
            return self.field_rules.fields[field]
        return FieldRule()

    def _add(self, field: str, name: str, run: Callable[[pd.DataFrame], pd.Series]) -> None:
        self.list.append(_Rule(field, name, run))

    def _field(self, field) -> None:  # noqa: C901 - one branch per kind of check, read top down
        name = field.name
        rule = self._rule(name)
        if field.required:
            self._add(name, "required", lambda f, n=name: _reason_where(_blank(f[n]), MISSING))
        judged = checks.judge_for(field, rule, entities=MODEL.names)
        if judged:
            judge, fast = judged
            self._add(name, field.type.value, lambda f, n=name, j=judge, q=fast: _as_mapped(
                f, n, checks.judge_column(f[n], j, fast_valid=q)))
        if field.type is FieldType.PHONE:
            self._add(name, "phone", lambda f, n=name: self._phones(f, n))
        domain = self.rules.choices(self.entity.name, name)
        if domain:
            allowed = set(domain)
            self._add(name, "picklist", lambda f, n=name, a=allowed: _reason_where(
                ~_blank(f[n]) & ~f[n].astype("str").str.strip().isin(a), "not in the picklist"))
        limit = rule.max_length or field.max_length
        if limit:
            self._add(name, "length", lambda f, n=name, m=limit: _reason_where(
                f[n].astype("str").str.len() > m, f"longer than {m} characters"))
        if name == "id":
            self._add(name, "unique", _duplicate_ids)
        if field.is_pointer:
            self._pointer(field)

    def _phones(self, frame: pd.DataFrame, name: str) -> pd.Series:
        """Numbers without a country code are read in the record's country, else its
        source's region (`regions`), else the rules' region: as clean reads them."""
        country_field = next((f.name for f in self.entity.fields if f.type is FieldType.COUNTRY), None)
        regions = countries.phone_regions(frame[country_field] if country_field else None,
                                          countries.source_regions(frame, self.rules.phone_region, self.regions),
                                          frame.index)
        reasons = pd.Series(None, index=frame.index, dtype=object)
        for region, rows in frame.groupby(regions, sort=False, dropna=False).groups.items():
            reasons.loc[rows] = checks.judge_column(
                frame.loc[rows, name], checks.phone(region),
                fast_valid=checks.phones_certainly_valid)
        return reasons

    def _pointer(self, field) -> None:
        name = field.name
        if field.target == ANY_ENTITY:
            def related(frame: pd.DataFrame, n=name, by=field.target_from) -> pd.Series:
                reasons = pd.Series(None, index=frame.index, dtype=object)
                for target, rows in frame.groupby(frame[by], sort=False).groups.items():
                    ids = self.targets.ids(str(target))
                    if ids is None:
                        continue
                    values = frame.loc[rows, n]
                    bad = ~_blank(values) & ~among(values.astype("str").str.strip(), ids)
                    reasons.loc[rows] = _reason_where(bad, self.targets.nowhere(str(target)))
                return reasons

            missing = [e for e in MODEL.names if self.targets.ids(e) is None]
            if missing:
                self.notes.append(
                    f"{self.entity.name}.{name}: pointers to {', '.join(missing)} not checked "
                    "(not validated in this run)."
                )
            self._add(name, "pointer", related)
            return
        ids = self.targets.ids(field.target)
        if ids is None:
            self.notes.append(
                f"{self.entity.name}.{name}: not checked against {field.target} records "
                f"(no {field.target} dataset in this run)."
            )
            return
        self._add(name, "pointer", lambda f, n=name, i=ids, r=self.targets.nowhere(field.target): _reason_where(
            ~_blank(f[n]) & ~among(f[n].astype("str").str.strip(), i), r))
        if field.target == self.entity.name:
            self._add(name, "hierarchy", _hierarchy)

    def _across_fields(self) -> None:
        pairs = {"opportunity": ("close_date", "created_at"), "case": ("closed_at", "opened_at")}
        if self.entity.name in pairs:
            later, earlier = pairs[self.entity.name]
            self._add(later, "order", lambda f, a=later, b=earlier: _before(f, a, b))

    def in_order(self) -> list[_Rule]:
        """The rules in the order pandera runs them: column by column, each column's in turn."""
        return [r for field in self.entity.fields for r in self.list if r.field == field.name]

    def schema(self, frame: pd.DataFrame, tally: Tally | None = None, *, row_by_row: bool = False
               ) -> tuple[pa.DataFrameSchema, _Reasons]:
        """The pandera schema of the rules, and what they found once it has run. `row_by_row`:
        only the rules that judge each row on its own and the targets (not `WHOLE_RULES`), for
        a slice of the rows."""
        chosen = [r for r in self.list if not (row_by_row and r.name in WHOLE_RULES)]
        reasons = _Reasons(frame, tally, len(chosen))
        columns = {}
        for field in self.entity.fields:
            mine = [r for r in chosen if r.field == field.name]
            columns[field.name] = pa.Column(
                nullable=True, required=True, checks=[reasons.check(r) for r in mine])
        return pa.DataFrameSchema(columns, strict=False, name=self.entity.name), reasons


def _as_mapped(frame: pd.DataFrame, name: str, reasons: pd.Series) -> pd.Series:
    """A value the mapping's transform refused (31.02.2021 to a date transform) is invalid
    for the reason the transform gave, which says what it tried, not for want of a
    transform."""
    mapped = issue_reasons(frame, name, reasons.notna())
    if mapped.isna().all():
        return reasons
    return reasons.where(mapped.isna(), mapped.str.removeprefix("is "))


def _reason_where(mask: pd.Series, reason: str) -> pd.Series:
    reasons = pd.Series(None, index=mask.index, dtype=object)
    reasons[mask.fillna(False).astype(bool)] = reason
    return reasons


def _duplicate_ids(frame: pd.DataFrame) -> pd.Series:
    """A legacy id twice in one source: the second record would overwrite the first on load."""
    ids = frame["id"].astype("str").str.strip()
    source = frame["_source"] if "_source" in frame else pd.Series("", index=frame.index)
    doubled = pd.DataFrame({"s": source, "i": ids}).duplicated(keep=False) & ~_blank(frame["id"])
    return _reason_where(doubled, "duplicate id in its source")


def _hierarchy(frame: pd.DataFrame) -> pd.Series:
    """Records that are their own parent, or sit in a parent cycle."""
    ids = frame["id"].astype("str").str.strip()
    parents = frame["parent_id"].astype("str").str.strip().where(~_blank(frame["parent_id"]))
    parent_of = dict(zip(ids, parents, strict=True))
    in_cycle: set[str] = set()
    for start in parent_of:
        seen: list[str] = []
        node: str | None = start
        while isinstance(node, str) and node in parent_of and node not in seen:
            seen.append(node)
            node = parent_of[node]
        if isinstance(node, str) and node in seen:
            in_cycle.update(seen[seen.index(node):])
    reasons = pd.Series(None, index=frame.index, dtype=object)
    mask = ids.isin(in_cycle)
    reasons[mask & (ids == parents)] = "its own parent"
    reasons[mask & (ids != parents)] = "in a parent cycle"
    return reasons


def _before(frame: pd.DataFrame, later: str, earlier: str) -> pd.Series:
    """`later` earlier than `earlier` (compared as dates, when both parse)."""
    a = pd.to_datetime(frame[later], errors="coerce", format="ISO8601", utc=True)
    b = pd.to_datetime(frame[earlier], errors="coerce", format="ISO8601", utc=True)
    entity_fields = {f.name: f.type for e in MODEL for f in e.fields if f.name in (later, earlier)}
    if FieldType.DATE in (entity_fields.get(later), entity_fields.get(earlier)):
        a, b = a.dt.normalize(), b.dt.normalize()  # a date against a moment: compare days
    wrong = a.notna() & b.notna() & (a < b)
    return _reason_where(wrong, f"before {earlier}")


WHOLE_RULES = ("unique", "hierarchy")  # rules that read every record of the entity, not one row
# Given an entity's name and its validator, what every rule found over its rows, keyed
# "field:rule" (the cluster engine checks a slice of rows per worker, `row_reasons`).
FoundBy = Callable[[str, "EntityValidator", Targets], dict[str, pd.Series]]


def row_reasons(entity: str, frame: pd.DataFrame, rules: ValidationRules, targets: Targets,
                regions: dict[str, str] | None) -> dict[str, pd.Series]:
    """What the rules that judge each row on its own found in `frame`, a slice of the entity's
    rows: per rule its reasons where it has one, indexed by row from 0 (the gate reads no
    other). Run through the same pandera schema as the whole."""
    frame = frame.reset_index(drop=True)
    validator = EntityValidator(MODEL.entity(entity), targets, rules, [], regions)
    schema, reasons = validator.schema(frame, row_by_row=True)
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors:
        pass  # every failure is in `reasons`, with its reason text
    return {key: found[found.notna()] for key, found in reasons.found.items()}


def join_reasons(slices: list[tuple[int, dict[str, pd.Series]]]) -> dict[str, pd.Series]:
    """What `row_reasons` found in consecutive slices of an entity's rows (each slice's rows
    and finding), as one finding over the whole, indexed by row from 0 as `validate` numbers
    the rows."""
    joined: dict[str, list[pd.Series]] = {}
    start = 0
    for rows, found in slices:
        for key, reasons in found.items():
            joined.setdefault(key, []).append(reasons.set_axis(reasons.index + start))
        start += rows
    return {key: pd.concat(parts) if len(parts) > 1 else parts[0] for key, parts in joined.items()}


def validate(
    datasets: dict[str, pd.DataFrame],
    *,
    rules: ValidationRules,
    thresholds: Thresholds,
    loaded: dict[str, set[str]] | None = None,
    regions: dict[str, str] | None = None,
    progress: Progress | None = None,
    found_by: FoundBy | None = None,
) -> ValidationResult:
    """Validate canonical datasets by entity name; pointers are checked across them, and into
    an entity not among them against `loaded` (per entity, the legacy ids already loaded in the
    target) when given: a staged cutover's pointer to a record in neither is an error. A phone
    number without a country code is read in its record's country, else in its source's region
    (`regions`, by source name: a migration's `phone_region`s), else the rules'. `progress` is
    told, per entity, the rows checked, counted a rule at a time.

    `found_by` checks an entity's rows elsewhere (the cluster engine: a slice per worker, with
    `row_reasons`); the rules that read the whole entity (`WHOLE_RULES`) then run here."""
    notes: list[str] = []
    entity_results = []
    failure_frames = []
    targets = Targets(datasets, loaded)
    for name in MODEL.load_order():
        if name not in datasets:
            continue
        entity = MODEL.entity(name)
        frame = datasets[name].reset_index(drop=True)
        validator = EntityValidator(entity, targets, rules, notes, regions)
        if found_by is None:
            tally = Tally(progress, "validate", name, len(frame))
            schema, reasons = validator.schema(frame, tally)
            try:
                schema.validate(frame, lazy=True)
            except SchemaErrors:
                pass  # every failure is in `reasons`, with its reason text
            tally.finish()
            found = reasons.found
        else:
            # pandera runs no check of a column the frame lacks: nor here, nor on the slices
            elsewhere = found_by(name, validator, targets)
            found = {}
            for r in validator.in_order():
                key = f"{r.field}:{r.name}"
                if r.name in WHOLE_RULES and r.field in frame:
                    found[key] = r.run(frame)
                elif key in elsewhere:
                    found[key] = elsewhere[key]
        result, failures = _gate(entity, frame, found, thresholds)
        result.checks += _completeness(entity, frame, datasets, rules)
        entity_results.append(result)
        failure_frames.append(failures)
    failures = (
        pd.concat(failure_frames, ignore_index=True)
        if failure_frames
        else pd.DataFrame(columns=list(FAILURE_COLUMNS))
    )
    return ValidationResult(entity_results, failures, notes)


def _gate(
    entity: Entity, frame: pd.DataFrame, found: dict[str, pd.Series], thresholds: Thresholds
) -> tuple[EntityResult, pd.DataFrame]:
    rows = len(frame)
    by_field: dict[str, list[pd.Series]] = {}
    for key, reasons in found.items():
        by_field.setdefault(key.split(":", 1)[0], []).append(reasons)
    result_checks = []
    failures = []
    provenance = {c: frame[c] if c in frame else pd.Series("", index=frame.index) for c in ("_source", "_file", "_row")}
    for field in entity.fields:
        stacked = [r[r.notna()] for r in by_field.get(field.name, [])]
        stacked = [s for s in stacked if not s.empty]
        bad = pd.concat(stacked) if stacked else pd.Series(dtype=object)
        first = bad[~bad.index.duplicated()]
        check = Check(
            entity=entity.name,
            field=field.name,
            cls=entity.threshold_class(field.name).value,
            errors=int(first.index.nunique()),
            rows=rows,
            threshold=thresholds.threshold(entity.name, field.name),
        )
        check.reasons = dict(Counter(_kind(r) for r in first.tolist()).most_common())
        for row in first.index[:SAMPLES_PER_CHECK]:
            check.samples.append(
                {"row": str(provenance["_row"][row]), "value": _shown(frame.at[row, field.name]),
                 "reason": str(first[row])}
            )
        result_checks.append(check)
        if not bad.empty:
            failures.append(pd.DataFrame({
                "_source": provenance["_source"][bad.index].values,
                "_file": provenance["_file"][bad.index].values,
                "_row": provenance["_row"][bad.index].values,
                "entity": entity.name,
                "id": frame["id"][bad.index].values,
                "field": field.name,
                "value": frame[field.name][bad.index].values,
                "reason": bad.values,
            }))
    failure_frame = pd.concat(failures, ignore_index=True) if failures else pd.DataFrame(columns=list(FAILURE_COLUMNS))
    return EntityResult(entity.name, rows, result_checks), failure_frame


def _shown(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and value != value) else str(value)


def _kind(reason: str) -> str:
    """A reason without the detail of one value, to count reasons of one kind together."""
    return reason.split(":", 1)[0] if reason.startswith(("invalid email", "invalid phone")) else reason


def _completeness(
    entity: Entity, frame: pd.DataFrame, datasets: dict[str, pd.DataFrame], rules: ValidationRules
) -> list[Check]:
    found = []
    entity_rules = rules.entities.get(entity.name)
    for goal in entity_rules.completeness if entity_rules else []:
        children = datasets.get(goal.child)
        if children is None:
            continue
        linked = set(children[goal.via].dropna().astype(str).str.strip())
        missing = ~among(frame["id"].astype("str").str.strip(), linked)
        check = Check(entity.name, goal.name, "completeness", int(missing.sum()), len(frame), goal.max_missing)
        check.reasons = {f"no {goal.child}": int(missing.sum())} if missing.any() else {}
        found.append(check)
    return found
