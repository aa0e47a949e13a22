"""Clean canonical datasets with the rules, logging every change.

Each field's steps run once per distinct value (and per distinct context, such as the record's
country for phones), so a million rows cost what their distinct values cost. Cleaning never
invents data: a blank stays blank, and a value whose cleaned form the gate would still refuse is
left exactly as it was, for validation to count. Every changed cell is one line of the change
log: provenance, entity, legacy id, field, before, after and the rules that changed it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crmmigrate import countries, parallel
from crmmigrate.clean.normalisers import NORMALISERS, DateDecision, decide_date_order
from crmmigrate.clean.rules import CleaningRules, Step
from crmmigrate.model import MODEL, Entity, FieldType
from crmmigrate.model import Field as ModelField
from crmmigrate.progress import Progress, Tally
from crmmigrate.validate import checks
from crmmigrate.validate.rules import FieldRule

DateOrders = dict[tuple[str, str], DateDecision]  # (entity, field) -> its dates' day-month order
CHANGE_COLUMNS = ("_source", "_file", "_row", "entity", "id", "field", "before", "after", "rule")
PASSES = 3  # of the steps over a value, at most, until it no longer changes
NOTE_COLUMNS = ("_source", "_file", "_row", "entity", "id", "field", "value", "rule", "note")


@dataclass
class FieldReport:
    """What cleaning did to one field of one entity."""

    entity: str
    field: str
    steps: list[str]
    changed: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    notes: int = 0
    kept_invalid: int = 0  # cleaned forms the gate would refuse: left as they were
    dates: DateDecision | None = None

    def as_dict(self) -> dict[str, Any]:
        found = {"entity": self.entity, "field": self.field, "steps": self.steps, "changed": self.changed,
                 "by_rule": dict(self.by_rule), "notes": self.notes, "kept_invalid": self.kept_invalid}
        if self.dates is not None:
            found["dates"] = {"order": self.dates.order, "day_first": self.dates.day_first,
                              "month_first": self.dates.month_first, "either": self.dates.either,
                              "ambiguous": self.dates.ambiguous, "contradictory": self.dates.contradictory}
        return found


@dataclass
class CleanResult:
    datasets: dict[str, pd.DataFrame]
    changes: pd.DataFrame  # CHANGE_COLUMNS: one row per changed cell
    notes: pd.DataFrame  # NOTE_COLUMNS: values reported or left alone, with why
    fields: list[FieldReport]
    # Once the cells are let go (`let_go_of_cells`): how many changes and notes there were.
    _counts: tuple[int, int] | None = field(default=None, repr=False)

    @property
    def changed(self) -> int:
        """How many cells were changed."""
        return len(self.changes) if self._counts is None else self._counts[0]

    @property
    def noted(self) -> int:
        """How many notes were made."""
        return len(self.notes) if self._counts is None else self._counts[1]

    @property
    def let_go(self) -> bool:
        """The changed cells and notes are let go (`let_go_of_cells`)."""
        return self._counts is not None

    def let_go_of_cells(self) -> None:
        """The changed cells and the notes let go, once written to their files (a run holds
        the rest of the result to its end: two million changed cells at 1M contacts); their
        counts stay."""
        self._counts = (self.changed, self.noted)
        self.changes, self.notes = self.changes.iloc[:0].copy(), self.notes.iloc[:0].copy()

    def by_rule(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for report in self.fields:
            total.update(report.by_rule)
        return total

    def as_dict(self) -> dict[str, Any]:
        return {"changed": self.changed, "notes": self.noted, "by_rule": dict(self.by_rule()),
                "fields": [f.as_dict() for f in self.fields]}


def clean(datasets: dict[str, pd.DataFrame], *, rules: CleaningRules, region: str | None,
          regions: dict[str, str] | None = None, progress: Progress | None = None,
          date_orders: DateOrders | None = None) -> CleanResult:
    """Clean every dataset (entity -> canonical frame). `region` reads phone numbers written
    without a country code when the record has no country; `regions` sets it per source (by
    `_source`); with neither, such a number is left as it was, with the reason. `progress` is
    told, per entity, the rows cleaned, counted a field at a time.

    A date column's day-month order is decided over the whole column (`decide_dates`);
    `date_orders` gives the decisions made over a whole of which `datasets` is one part (the
    cluster engine cleans a partition at a time), and is decided from `datasets` when not given."""
    if date_orders is None:
        date_orders = decide_dates(undecided_dates(datasets, rules))
    plans = [_Plan.of(name, frame, rules, countries.source_regions(frame, region, regions), progress)
             for name, frame in datasets.items()]

    def field_cleaned(item: tuple[int, int]) -> tuple[FieldReport, pd.DataFrame, pd.DataFrame, pd.Series]:
        plan, at = plans[item[0]], item[1]
        model_field, steps = plan.todo[at]
        return _clean_field(plan.out, plan.entity, model_field, steps, plan.sources, plan.source_codes,
                            date_orders.get((plan.entity.name, model_field.name)))

    # The entities are cleaned side by side, wave by wave (`_waves`): a large entity's fields of
    # a wave, with every other large entity's of the same wave, in forked processes, each on
    # the records as the fields before its wave left them, their changed values coming back;
    # one entity's fields after another's, the processes would wait for the slowest field of
    # every wave of every entity in turn.
    found: dict[tuple[int, int], tuple[FieldReport, pd.DataFrame, pd.DataFrame, pd.Series]] = {}
    for number in range(max((len(plan.waves) for plan in plans), default=0)):
        wave = [(p, at) for p, plan in enumerate(plans) if number < len(plan.waves) for at in plan.waves[number]]
        shared = [item for item in wave if len(plans[item[0]].out) >= parallel.APART_ROWS]
        shared = sorted(shared, key=lambda item: -len(plans[item[0]].out)) if len(shared) > 1 else []
        for item, result in zip(shared, parallel.apart(field_cleaned, shared) if shared else [], strict=True):
            after = result[3]
            if len(after):
                plans[item[0]].out.loc[after.index, plans[item[0]].todo[item[1]][0].name] = after
            found[item] = result
            plans[item[0]].cleaned()
        for item in wave:
            if item not in found:
                found[item] = field_cleaned(item)
                plans[item[0]].cleaned()
    for plan in plans:
        plan.tally.finish()
    results = [found[(p, at)] for p, plan in enumerate(plans) for at in range(len(plan.todo))]
    return CleanResult(
        {plan.name: plan.out for plan in plans},
        _concat([changed for _, changed, _, _ in results], CHANGE_COLUMNS),
        _concat([noted for _, _, noted, _ in results], NOTE_COLUMNS),
        [report for report, _, _, _ in results],
    )


@dataclass
class _Plan:
    """One entity's cleaning: its records (`out`, cleaned in place), the fields with steps
    (`todo`) in waves (`_waves`), each record's region (and its code, made once for every
    field: `_codes`), its progress."""

    name: str
    entity: Entity
    out: pd.DataFrame
    sources: pd.Series
    source_codes: np.ndarray
    todo: list[tuple[ModelField, list[Step]]]
    waves: list[list[int]]
    tally: Tally
    done: int = 0  # fields cleaned

    def cleaned(self) -> None:
        """One field more is cleaned: its rows counted."""
        self.done += 1
        self.tally.part(self.done, len(self.todo))

    @classmethod
    def of(cls, name: str, frame: pd.DataFrame, rules: CleaningRules, sources: pd.Series,
           progress: Progress | None) -> _Plan:
        entity = MODEL.entity(name)
        todo = [(f, steps) for f in entity.fields if f.name in frame and (steps := rules.steps(name, f))]
        return cls(name, entity, frame.copy(), sources, _codes(sources), todo,
                   _waves(entity, [f for f, _ in todo]), Tally(progress, "clean", name, len(frame)))


def combine(parts: list[CleanResult], *, datasets: dict[str, pd.DataFrame] | None = None) -> CleanResult:
    """One result from the results of cleaning a whole's parts, in the whole's row order (each
    part a slice of one entity's rows, cleaned with the whole's `date_orders`): what `clean`
    gives for the whole. Change and note lines run entity by entity and field by field, as
    `clean` writes them, each field's in row order. `datasets`: the whole's cleaned records,
    when they were put together apart (else the parts' are joined)."""
    if datasets is None:
        entities = list(dict.fromkeys(name for part in parts for name in part.datasets))
        datasets = {name: pd.concat([p.datasets[name] for p in parts if name in p.datasets], ignore_index=True)
                    for name in entities}
    fields: dict[tuple[str, str], FieldReport] = {}
    for part in parts:
        for report in part.fields:
            whole = fields.setdefault((report.entity, report.field), FieldReport(
                report.entity, report.field, report.steps, dates=report.dates))
            whole.changed += report.changed
            whole.by_rule.update(report.by_rule)
            whole.notes += report.notes
            whole.kept_invalid += report.kept_invalid
    rank = {key: number for number, key in enumerate(fields)}

    def in_order(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
        joined = _concat(frames, columns)
        if joined.empty:
            return joined
        at = pd.Series([rank[key] for key in zip(joined["entity"], joined["field"], strict=True)])
        return joined.iloc[np.argsort(at.to_numpy(), kind="stable")].reset_index(drop=True)

    return CleanResult(datasets, in_order([p.changes for p in parts], CHANGE_COLUMNS),
                       in_order([p.notes for p in parts], NOTE_COLUMNS), list(fields.values()))


def _concat(parts: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=list(columns), dtype="str")
    return pd.concat(parts, ignore_index=True)[list(columns)]


def _country_column(entity: Entity) -> str | None:
    return next((f.name for f in entity.fields if f.type is FieldType.COUNTRY), None)


@dataclass(frozen=True)
class _GateCheck:
    """The gate's own check of a field's values, as validate runs it: `judge` (value, region)
    -> reason or None, one by one; `certain` marks in bulk values its fast path accepts."""

    judge: Callable[[str, str], str | None]
    certain: Callable[[pd.Series], pd.Series] | None


def _gate_check(model_field: ModelField) -> _GateCheck | None:
    if model_field.type is FieldType.PHONE:
        return _GateCheck(lambda value, region: checks.phone(region)(value), checks.phones_certainly_valid)
    found = checks.judge_for(model_field, FieldRule(), entities=tuple(MODEL.names))
    if found is None:
        return None
    judge, fast = found
    if isinstance(fast, re.Pattern):
        return _GateCheck(lambda value, _region: judge(value), lambda text: text.str.fullmatch(fast.pattern))
    return _GateCheck(lambda value, _region: judge(value), fast)


def _undecided(steps: list[Step]) -> bool:
    """The steps read dates in an order the column's values decide."""
    return any(step.name == "date" and "order" not in step.options for step in steps)


def _present(column: pd.Series) -> pd.Series:
    text = column.astype("str")
    return (text.notna() & (text.str.strip() != "")).fillna(False).astype(bool)


def undecided_dates(datasets: dict[str, pd.DataFrame], rules: CleaningRules) -> dict[tuple[str, str], list[str]]:
    """Per (entity, field) whose date step has no `order`, the values written that decide it,
    in row order: the non-ISO ones (ISO values say nothing about day and month order, and are
    most of a clean column). The lists of a whole's parts, joined in order, are the whole's."""
    found: dict[tuple[str, str], list[str]] = {}
    for name, frame in datasets.items():
        for model_field in MODEL.entity(name).fields:
            if model_field.name in frame and _undecided(rules.steps(name, model_field)):
                written = frame[model_field.name].astype(object)[_present(frame[model_field.name])]
                iso = NORMALISERS["date"].bulk(written.astype("str")).notna()
                found[(name, model_field.name)] = written[~iso.to_numpy()].tolist()
    return found


def decide_dates(values: dict[tuple[str, str], list[str]]) -> DateOrders:
    """Each date column's day-month order, decided over its values (`undecided_dates`)."""
    return {key: decide_date_order(written) for key, written in values.items()}


def _waves(entity: Entity, fields: list[ModelField]) -> list[list[int]]:
    """The positions of `fields`, in order, in waves whose fields can be cleaned side by side:
    each field then sees the records as every field before it left them, as when they are
    cleaned one after another. Besides its own values, a field reads the legacy id (its change
    lines') and the record's country (a phone's steps): one of those cleaned in the wave ends it."""
    read = {"id", *filter(None, [_country_column(entity)])}
    waves: list[list[int]] = [[]]
    for at in range(len(fields)):
        if any(fields[earlier].name in read for earlier in waves[-1]):
            waves.append([])
        waves[-1].append(at)
    return [wave for wave in waves if wave]


def _clean_field(frame: pd.DataFrame, entity: Entity, model_field: ModelField, steps: list[Step],
                 source_regions: pd.Series, region_codes: np.ndarray, dates: DateDecision | None
                 ) -> tuple[FieldReport, pd.DataFrame, pd.DataFrame, pd.Series]:
    """One field cleaned in `frame` (changed in place), its report, change and note lines, and
    the values it changed (by the frame's index); `region_codes` are `_codes(source_regions)`."""
    name = model_field.name
    report = FieldReport(entity.name, name, [s.name for s in steps])
    values = frame[name].copy()  # as written: the frame's changes below must not reach it (pandas 2 shares memory)
    present = _present(values)

    steps = list(steps)
    if _undecided(steps) and dates is not None:
        report.dates = dates
        if dates.order:
            steps = [Step(name="date", options={**s.options, "order": dates.order})
                     if s.name == "date" and "order" not in s.options else s for s in steps]

    # The context a step may need per row: the record's country, the source's region.
    needs_country = any("country" in NORMALISERS[s.name].row_context for s in steps)
    country_column = _country_column(entity) if needs_country else None
    gate = _gate_check(model_field)
    # The rows with a value, by position; each (value, region, country) is cleaned once, and
    # only the distinct rows are made Python objects.
    rows = np.flatnonzero(present.to_numpy(dtype=bool))
    codes = [_codes(values), region_codes] + ([_codes(frame[country_column])] if country_column else [])
    first, inverse = _distinct_rows([of_column[rows] for of_column in codes])
    at = rows[first]
    distinct = pd.DataFrame({
        "value": _objects(values, at), "region": _objects(source_regions, at),
        "country": _objects(frame[country_column], at) if country_column else None}, index=frame.index[at])

    after, used, said = _run_steps(distinct, steps)
    if gate is not None:
        after, used, said = _keep_if_still_invalid(distinct, after, used, said, gate)
    # Every row takes its distinct row's outcome by position: no join on the three columns.
    moved = (after != distinct["value"]).to_numpy(dtype=bool)
    said_by = said.to_numpy()
    noted = np.fromiter((len(s) > 0 for s in said_by), dtype=bool, count=len(said_by))
    kept = np.fromiter((any(n.startswith("left as it was: cleaned") for _, n in s) for s in said_by), dtype=bool,
                       count=len(said_by))
    report.kept_invalid = int(np.bincount(inverse, minlength=len(first))[kept].sum())

    changed_at = np.flatnonzero(moved[inverse])  # of `rows`
    which = inverse[changed_at]
    rule = used.to_numpy()[which]
    changed = pd.Series(after.to_numpy()[which], index=frame.index[rows[changed_at]], dtype=object)
    before = _objects(values, rows[changed_at])
    frame.loc[changed.index, name] = changed
    report.changed = len(changed)
    for rules, count in pd.Series(rule, dtype=object).value_counts().items():
        for one in str(rules).split("+"):
            report.by_rule[one] += int(count)

    change_log = _provenance(frame, rows[changed_at]).assign(entity=entity.name, field=name, before=before,
                                                             after=changed.to_numpy(), rule=rule)
    noted_at = rows[np.flatnonzero(noted[inverse])]
    told = [said_by[d] for d in inverse[np.flatnonzero(noted[inverse])]]
    lines = np.repeat(noted_at, [len(t) for t in told])
    note_log = _provenance(frame, lines).assign(
        entity=entity.name, field=name, value=_objects(values, lines),
        rule=[r for t in told for r, _ in t], note=[n for t in told for _, n in t])
    report.notes = len(note_log)
    return report, change_log, note_log, changed


def _objects(column: pd.Series, at: np.ndarray) -> np.ndarray:
    """The values at positions `at` of `column`, as Python objects."""
    return column.take(at).astype(object).to_numpy()


def _codes(column: pd.Series) -> np.ndarray:
    """A code per row of `column`, equal values alike (missing ones too)."""
    return pd.factorize(column, use_na_sentinel=False)[0]


def _distinct_rows(codes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the distinct rows of the columns coded by `codes` (each one's first,
    in order, as `drop_duplicates` keeps them; blanks equal to blanks) and, for every row,
    which of them it is. The columns' codes folded into one number and renumbered column by
    column, so it stays below rows * distinct values."""
    code = np.zeros(len(codes[0]) if codes else 0, dtype=np.int64)
    for codes_of in codes:
        code, _ = pd.factorize(code * (int(codes_of.max(initial=0)) + 1) + codes_of)
    _, first = np.unique(code, return_index=True)  # codes are numbered by first appearance
    return first, code


def _provenance(frame: pd.DataFrame, at: np.ndarray) -> pd.DataFrame:
    """Where the rows at positions `at` of `frame` came from."""
    def taken(column: str, kind: Any, missing: Any) -> Any:
        return frame[column].take(at).astype(kind).to_numpy() if column in frame else missing

    return pd.DataFrame({"_source": taken("_source", str, ""), "_file": taken("_file", str, ""),
                         "_row": taken("_row", str, ""), "id": taken("id", object, None)},
                        index=pd.RangeIndex(len(at)))


def _run_steps(distinct: pd.DataFrame, steps: list[Step]) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Distinct (value, region, country) through the steps, step by step: what each step is
    certain of in bulk, the rest one call each. The results, the steps that changed each value
    ("text+phone"), and what they said [(rule, note)]."""
    values = distinct["value"].astype(object).copy()
    used = pd.Series([""] * len(distinct), index=distinct.index, dtype=object)
    said = pd.Series([()] * len(distinct), index=distinct.index, dtype=object)
    # A later step can give an earlier one something to do ("\x1b\x91": mojibake makes the
    # quote that lets `text` drop the control character): the steps run again until nothing
    # moves, so cleaning clean data changes nothing.
    todo = np.ones(len(distinct), dtype=bool)
    # One step alone settles in one pass: every normaliser is idempotent on its own.
    for _ in range(PASSES if len(steps) > 1 else 1):
        before = values[todo]
        again = _one_pass(distinct[todo], steps, before, used[todo], said[todo])
        values, used, said = values.copy(), used.copy(), said.copy()
        values[todo], used[todo], said[todo] = again
        todo[todo] = (again[0] != before).to_numpy()
        if not todo.any():
            break
    return values, used, said


def _one_pass(distinct: pd.DataFrame, steps: list[Step], values: pd.Series, used: pd.Series, said: pd.Series
              ) -> tuple[pd.Series, pd.Series, pd.Series]:
    regions = distinct["region"].tolist()
    countries_given = distinct["country"].tolist()
    used_list, said_list = used.tolist(), said.tolist()
    for step in steps:
        normaliser = NORMALISERS[step.name]
        current = values.tolist()
        certain = None
        if normaliser.bulk is not None:
            certain = normaliser.bulk(values.astype("str"), _bulk_context(distinct, step, normaliser)) \
                if normaliser.bulk_context else normaliser.bulk(values.astype("str"))
        new = certain.astype(object).where(certain.notna(), None).tolist() if certain is not None \
            else [None] * len(current)
        def call(at: int, step: Step = step, normaliser: Any = normaliser) -> Any:
            options = dict(step.options)
            if step.name == "phone":
                options.setdefault("region", regions[at])
            if "country" in normaliser.row_context:
                country = countries_given[at]
                options["country"] = country if isinstance(country, str) and country.strip() else None
            return normaliser.fn(current[at], **options)

        pending = [i for i, v in enumerate(new) if v is None]
        for at, outcome in zip(pending, parallel.each(call, pending), strict=True):
            new[at] = outcome.value
            if outcome.note:
                said_list[at] = (*said_list[at], (step.name, outcome.note))
        for at, (old, value) in enumerate(zip(current, new, strict=True)):
            if old != value and step.name not in used_list[at].split("+"):
                used_list[at] = f"{used_list[at]}+{step.name}" if used_list[at] else step.name
        values = pd.Series(new, index=values.index, dtype=object)
    return (values, pd.Series(used_list, index=values.index, dtype=object),
            pd.Series(said_list, index=values.index, dtype=object))


def _bulk_context(distinct: pd.DataFrame, step: Step, normaliser: Any) -> pd.DataFrame:
    """What `_one_pass` calls a step with per row besides its options, as columns for its
    bulk: the region a phone is read in (the rule's own, else the record's source's) and the
    record's `row_context` values as the record holds them (blank or missing: none)."""
    context = pd.DataFrame(index=distinct.index)
    if step.name == "phone":
        context["region"] = step.options["region"] if "region" in step.options else distinct["region"].to_numpy(dtype=object)
    if "country" in normaliser.row_context:
        context["country"] = distinct["country"].to_numpy(dtype=object)
    return context


def _keep_if_still_invalid(distinct: pd.DataFrame, after: pd.Series, used: pd.Series, said: pd.Series,
                           gate: _GateCheck
                           ) -> tuple[pd.Series, pd.Series, pd.Series]:
    """A cleaned value the gate would refuse goes back to what it was: cleaning never turns an
    invalid value into a different invalid one (nor a valid one into an invalid one)."""
    changed = (after != distinct["value"]).to_numpy().copy()
    # What the gate's own fast path certainly accepts needs no one-by-one check.
    if gate.certain is not None:
        changed &= ~gate.certain(after.astype("str").where(changed, "")).fillna(False).to_numpy(dtype=bool)
    after, used, said = after.copy(), used.copy(), said.copy()
    # Judged where validate judges it: the record's country, else its source's region.
    judged_in = countries.phone_regions(distinct["country"], distinct["region"], distinct.index).tolist()
    cleaned = after.astype(object).tolist()
    pending = np.flatnonzero(changed).tolist()
    refusals = parallel.each(lambda at: gate.judge(str(cleaned[at]).strip(), judged_in[at]), pending)
    before = distinct["value"]
    for at, refusal in zip(pending, refusals, strict=True):
        if refusal is not None:
            value = before.iat[at]
            said.iat[at] = (*said.iat[at], (used.iat[at], f"left as it was: cleaned it would be {after.iat[at]!r}, "
                                                          f"which is still invalid ({refusal})"))
            after.iat[at], used.iat[at] = value, ""
    return after, used, said

