"""Cleaning rules (rules/cleaning.yaml), parsed strictly: per field, named normalisers in order.

Every field of a canonical type gets that type's steps (`types`); `entities` sets one field's
steps instead. A step is a normaliser's name or `{name: {option: value}}`; names, options and
fields are checked when the file is read, with the line of the mistake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    model_validator,
)

from crmmigrate import config
from crmmigrate.clean.normalisers import NORMALISERS
from crmmigrate.config import At, Strict
from crmmigrate.defaults import rules_file
from crmmigrate.errors import did_you_mean
from crmmigrate.model import MODEL, Field, FieldType
from crmmigrate.validate.rules import entity_at, field_at


class Step(BaseModel):
    """One normaliser with its options."""

    model_config = ConfigDict(frozen=True)

    name: str
    options: dict[str, Any] = {}


def _step(value: Any) -> Step:
    if isinstance(value, Step):
        return value
    if isinstance(value, str):
        name, options = value, {}
    elif isinstance(value, dict) and len(value) == 1:
        name, options = next(iter(value.items()))
        options = options or {}
        if not isinstance(options, dict):
            raise ValueError(f"the options of {name!r} are a mapping, e.g. {{{name}: {{option: value}}}}")
    else:
        raise ValueError("a step is a normaliser's name, or one name with its options: {phone: {region: DE}}")
    if name not in NORMALISERS:
        guess = did_you_mean(str(name), list(NORMALISERS))
        raise ValueError(f"unknown normaliser {name!r}" + (f" (did you mean {guess!r}?)" if guess else "")
                         + f"; there are: {', '.join(NORMALISERS)}")
    try:
        checked = NORMALISERS[name].options.model_validate(options)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise ValueError(f"{name}: {where + ': ' if where else ''}{problem['msg']}") from None
    return Step(name=name, options=checked.model_dump(exclude_unset=True))


StepItem = Annotated[Step, BeforeValidator(_step)]


class CleaningRules(Strict):
    types: dict[FieldType, list[StepItem]] = {}
    entities: dict[str, dict[str, list[StepItem]]] = {}

    @model_validator(mode="after")
    def _known_names(self) -> CleaningRules:
        for entity, fields in self.entities.items():
            entity_at(entity, ("entities", entity))
            for name in fields:
                field_at(entity, name, ("entities", entity, name))
                if MODEL.entity(entity).field(name).is_pointer or name == "id":
                    raise At(("entities", entity, name), f"{entity}.{name} is a key or pointer: cleaning it "
                             "would break the links between records")
        return self

    def steps(self, entity: str, field: Field) -> list[Step]:
        """What cleans entity.field: its own steps, else its type's (none for keys and pointers)."""
        own = self.entities.get(entity, {})
        if field.name in own:
            return own[field.name]
        if field.name == "id" or field.is_pointer:
            return []
        return self.types.get(field.type, [])


def load_cleaning(path: Path | None = None) -> CleaningRules:
    """The rules at `path`; else a migration project's own rules/cleaning.yaml when run from it,
    else the ones crmmigrate ships."""
    return config.load(CleaningRules, Path(path) if path else rules_file("cleaning.yaml"))

