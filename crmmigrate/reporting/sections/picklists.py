"""Picklist noise: values of one field that differ only by case, spacing, punctuation or a small
edit ("Closed Won", "closed-won", "Clsoed Won"), over every picklist field of the model and
every owner field.

The database groups each field (byte for byte) into its distinct values and their counts;
only those come back, and they are compared here with rapidfuzz: a field has tens of values,
or a few thousand owners at most, never one row per record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from rapidfuzz import process
from rapidfuzz.distance import OSA

from crmmigrate.model import MODEL, FieldType
from crmmigrate.reporting.model import Section
from crmmigrate.reporting.rules import PicklistRules
from crmmigrate.reporting.sections.base import Context, biggest_first, finding, provenance, set_metric, share

TITLE = "Picklist noise"
# Distinct values compared by edits, most frequent first: a field with more is not a picklist
# (its rarer values are still grouped by case, spacing and punctuation).
MAX_COMPARED = 2000
_NOT_WORD = re.compile(r"[\W_]+")


def fields() -> list[tuple[str, str]]:
    """(entity, field) of every picklist field of the model, and every owner."""
    return [(e.name, f.name) for e in MODEL for f in e.fields if f.type is FieldType.PICKLIST or f.name == "owner"]


def spelling_key(value: str) -> str:
    """A value with case, spacing and punctuation taken out: 'Closed-Won ' -> 'closedwon'."""
    return _NOT_WORD.sub("", value.casefold())


@dataclass
class Variant:
    value: str
    rows: int
    variant_of: str


def variants(counts: dict[str, int], *, allowed: tuple[str, ...] = (), rules: PicklistRules,
             by_spelling: bool = True) -> list[Variant]:
    """The values of one field that are variants of another, each with the value it is a
    variant of: in each group of alike values, an allowed value (validation's choices) if one
    is there, else the most frequent one, is the value meant."""
    by_key: dict[str, list[str]] = {}
    for value in sorted(counts, key=lambda v: (-counts[v], v)):
        key = spelling_key(value)
        by_key.setdefault(key or value, []).append(value)
    keys = list(by_key)  # most frequent first
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if by_spelling and rules.max_edits:
        compared = [i for i, key in enumerate(keys[:MAX_COMPARED]) if len(key) >= rules.min_length]
        texts = [keys[i] for i in compared]
        distances = process.cdist(texts, texts, scorer=OSA.distance, score_cutoff=rules.max_edits, workers=1)
        for a, b in zip(*(distances <= rules.max_edits).nonzero(), strict=True):
            if a < b:
                parent[root(compared[a])] = root(compared[b])
    groups: dict[int, list[str]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(root(i), []).extend(by_key[key])
    found = []
    for values in groups.values():
        if len(values) < 2:
            continue
        values.sort(key=lambda v: (-counts[v], v))
        meant = next((v for v in values if v in allowed), values[0])
        found += [Variant(v, counts[v], meant) for v in values if v != meant]
    return sorted(found, key=lambda v: (-v.rows, v.value))


def build(ctx: Context) -> Section:
    section = Section(key="picklists", title=TITLE)
    rules = ctx.rules.picklists
    checked, listed = [], []
    total_rows = total_variants = 0
    for entity, name in fields():
        table = ctx.t(entity)
        column = ctx.exact(table.c[name])
        counts = {value: count for value, count in ctx.rows(
            sa.select(column, sa.func.count()).where(table.c[name].is_not(None)).group_by(column))}
        allowed = ctx.validation.allowed(entity, name) if name != "owner" else ()
        found = variants(counts, allowed=allowed, rules=rules, by_spelling=name not in rules.exact_spelling)
        rows, noisy = sum(counts.values()), sum(v.rows for v in found)
        total_rows, total_variants = total_rows + rows, total_variants + noisy
        checked.append([f"{entity}.{name}", len(counts), rows, len(found), noisy])
        listed += [[f"{entity}.{name}", v.value, v.rows, v.variant_of] for v in found]
        if found:
            examples = []
            for variant in found[:ctx.rules.examples]:
                first = ctx.examples(sa.select(*provenance(table)).where(column == variant.value)
                                     .order_by(table.c.id).limit(1))
                examples.append({**(first[0] if first else {}), "value": variant.value, "rows": variant.rows,
                                 "variant_of": variant.variant_of})
            section.findings.append(finding(
                f"picklists.{entity}.{name}", f"{entity}.{name}: values that are variants of another", noisy, rows,
                examples=examples, table="variants",
                hint="Add each variant to the mapping's value map (or a cleaning rule) so it loads as the value "
                     "meant; a report grouped by this field splits them otherwise."))
    section.tables.append(ctx.table("variants", "Values that are variants of another", rows=listed,
                                    columns=["field", "value", "rows", "variant_of"], order=biggest_first(2, 0, 1),
                                    chart="none", note="variant_of: the allowed value, else the most frequent"))
    section.tables.append(ctx.table("fields", "Fields checked", rows=checked,
                                    columns=["field", "distinct_values", "rows", "variant_values", "variant_rows"],
                                    chart="bar", x="field", y=["variant_rows"]))
    set_metric(section, "picklist.variant_share", share(total_variants, total_rows))
    return section
