"""Validation rules and thresholds (rules/validation.yaml, rules/thresholds.yaml), parsed strictly.

The canonical model says each field's type, whether it is required and its class; these files
add what the model cannot know (picklist domains, ranges, the phone region, completeness goals)
and the error rate each class, entity or field may have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import phonenumbers
from pydantic import Field, field_validator, model_validator

from crmmigrate import config
from crmmigrate.config import At, BadConfig, Strict
from crmmigrate.defaults import rules_file
from crmmigrate.errors import BadUsage, did_you_mean
from crmmigrate.model import MODEL, FieldType, ThresholdClass

ClassName = Literal["key", "pointer", "general", "lead"]


class FieldRule(Strict):
    choices: list[str] | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = None


class Completeness(Strict):
    """A share of parent records that may lack a child, e.g. opportunities with no role."""

    name: str
    child: str
    via: str
    max_missing: float = Field(ge=0, le=1)


class EntityRules(Strict):
    fields: dict[str, FieldRule] = {}
    completeness: list[Completeness] = []


class ValidationRules(Strict):
    # No default: a region is a fact about a source (migration.yaml's per-source phone_region),
    # and one assumed for every source makes national numbers valid or invalid by accident.
    phone_region: str | None = None
    entities: dict[str, EntityRules] = {}

    @field_validator("phone_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return known_region(value)

    def choices(self, entity: str, field: str) -> tuple[str, ...]:
        """The values a picklist field may hold: these rules' choices, else the model's; none
        for a field without a list."""
        rules = self.entities.get(entity)
        given = rules.fields[field].choices if rules and field in rules.fields else None
        return tuple(given or MODEL.entity(entity).field(field).choices)

    def allowed(self, entity: str, field: str) -> tuple[str, ...]:
        """The values validate accepts in a field with a fixed list: a picklist's `choices`, or
        for an entity-name field the model's entities."""
        if MODEL.entity(entity).field(field).type is FieldType.ENTITY_NAME:
            return MODEL.names
        return self.choices(entity, field)

    @model_validator(mode="after")
    def _known_names(self) -> ValidationRules:
        for entity, rules in self.entities.items():
            _check_entity(entity)
            for name in rules.fields:
                _check_field(entity, name)
            for goal in rules.completeness:
                _check_entity(goal.child)
                _check_field(goal.child, goal.via)
                if MODEL.entity(goal.child).field(goal.via).target != entity:
                    raise ValueError(f"{goal.child}.{goal.via} does not point at {entity}")
        return self


class EntityThresholds(Strict):
    classes: dict[ClassName, float] = {}
    fields: dict[str, float] = {}


class Thresholds(Strict):
    defaults: dict[ClassName, float]
    entities: dict[str, EntityThresholds] = {}

    @model_validator(mode="after")
    def _complete(self) -> Thresholds:
        missing = [c.value for c in ThresholdClass if c.value not in self.defaults]
        if missing:
            raise ValueError(f"defaults needs a threshold for {', '.join(missing)}")
        for entity, overrides in self.entities.items():
            _check_entity(entity)
            for name in overrides.fields:
                _check_field(entity, name)
        for value in [*self.defaults.values()] + [
            v for o in self.entities.values() for v in [*o.classes.values(), *o.fields.values()]
        ]:
            if not 0 <= value <= 1:
                raise ValueError(f"a threshold is a share of rows between 0 and 1, not {value}")
        return self

    def threshold(self, entity: str, name: str) -> float:
        """The error rate allowed for entity.field: the field's own, else its class's for the
        entity, else the class default."""
        overrides = self.entities.get(entity, EntityThresholds())
        if name in overrides.fields:
            return overrides.fields[name]
        cls = MODEL.entity(entity).threshold_class(name).value
        return overrides.classes.get(cls, self.defaults[cls])  # type: ignore[arg-type]

    def with_overrides(self, overrides: dict[str, float]) -> Thresholds:
        """These thresholds with `entity.field` (or `entity.class`) values from the command line."""
        entities = {k: v.model_dump() for k, v in self.entities.items()}
        for key, value in overrides.items():
            entity, _, name = key.partition(".")
            is_class = name in [c.value for c in ThresholdClass]
            try:
                _check_entity(entity)
                if not is_class:
                    _check_field(entity, name)
            except ValueError as exc:
                raise BadUsage(f"--threshold {key}: {exc}.",
                               hint="Write ENTITY.FIELD=RATE or ENTITY.CLASS=RATE, e.g. contact.email=8%.") from None
            slot = entities.setdefault(entity, {"classes": {}, "fields": {}})
            slot["classes" if is_class else "fields"][name] = value
        return Thresholds.model_validate({"defaults": self.defaults, "entities": entities})


def known_region(value: str | None) -> str | None:
    """A phone region as phonenumbers knows it (an ISO 3166 code, upper-cased), or None."""
    if value is None:
        return None
    if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"not a region phonenumbers knows: {value!r} (an ISO 3166 code such as DE)")
    return value.upper()


def _check_entity(name: str) -> None:
    if name not in MODEL.names:
        guess = did_you_mean(name, MODEL.names)
        raise ValueError(f"unknown entity {name!r}" + (f" (did you mean {guess!r}?)" if guess else ""))


def _check_field(entity: str, name: str) -> None:
    if name not in MODEL.entity(entity):
        names = MODEL.entity(entity).field_names
        guess = did_you_mean(name, names)
        raise ValueError(
            f"{entity} has no field {name!r}" + (f" (did you mean {guess!r}?)" if guess else "")
        )


def entity_at(name: str, where: tuple) -> None:
    """An unknown entity as a rules file's error at `where` (its line found from the path)."""
    try:
        _check_entity(name)
    except ValueError as exc:
        raise At(where, str(exc)) from None


def field_at(entity: str, name: str, where: tuple) -> None:
    """An unknown field of `entity` as a rules file's error at `where`."""
    try:
        _check_field(entity, name)
    except ValueError as exc:
        raise At(where, str(exc)) from None


def load_rules(path: Path | None = None) -> ValidationRules:
    return config.load(ValidationRules, Path(path) if path else rules_file("validation.yaml"))


def load_thresholds(path: Path | None = None) -> Thresholds:
    return config.load(Thresholds, Path(path) if path else rules_file("thresholds.yaml"))


def parse_overrides(items: list[str]) -> dict[str, float]:
    """`contact.email=0.08` (or `=8%`) from the command line."""
    found: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            number = float(value.rstrip("%")) / (100 if value.endswith("%") else 1)
        except ValueError:
            number = -1
        if not sep or "." not in key or not 0 <= number <= 1:
            raise BadConfig(
                f"--threshold {item!r}: write ENTITY.FIELD=RATE or ENTITY.CLASS=RATE, the rate "
                "between 0 and 1 or a percentage, e.g. contact.email=0.08 or lead.lead=25%."
            )
        found[key] = number
    return found
