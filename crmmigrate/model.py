"""The canonical CRM model: every entity, its fields, and each field's type and class.

This module is the single definition. Schemas, thresholds, target tables, dedupe defaults and
the load order are derived from it by the later stages; nothing restates a field list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from graphlib import CycleError, TopologicalSorter

from crmmigrate.errors import did_you_mean

# Every extracted row carries these columns through every stage, so any value in any report
# can be traced back to the file and line (or primary key) it came from.
SOURCE_COLUMN = "_source"
FILE_COLUMN = "_file"
ROW_COLUMN = "_row"
PROVENANCE = (SOURCE_COLUMN, FILE_COLUMN, ROW_COLUMN)


class FieldType(StrEnum):
    """What kind of value a field holds; drives parsing, format checks and column types."""

    ID = "id"
    STRING = "string"
    TEXT = "text"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    COUNTRY = "country"
    DATE = "date"
    DATETIME = "datetime"
    DECIMAL = "decimal"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CURRENCY = "currency"
    PICKLIST = "picklist"
    ENTITY_NAME = "entity_name"


class FieldClass(StrEnum):
    """How much an invalid value matters: decides its error-rate threshold and its policy."""

    KEY = "key"
    POINTER = "pointer"
    GENERAL = "general"


class ThresholdClass(StrEnum):
    """The class a field's error rate is judged by. Every field of a lead is judged as `lead`."""

    KEY = "key"
    POINTER = "pointer"
    GENERAL = "general"
    LEAD = "lead"


ANY_ENTITY = "*"


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a canonical entity."""

    name: str
    type: FieldType = FieldType.STRING
    required: bool = False
    cls: FieldClass = FieldClass.GENERAL
    # For pointers: the entity pointed at, or ANY_ENTITY with `target_from` naming the field
    # that holds the entity name (an activity relates to an account, a contact, a case...).
    target: str | None = None
    target_from: str | None = None
    choices: tuple[str, ...] = ()
    max_length: int | None = None

    @property
    def is_pointer(self) -> bool:
        return self.cls is FieldClass.POINTER


@dataclass(frozen=True, slots=True)
class Entity:
    """A canonical entity: its fields in order, and how its fields are judged."""

    name: str
    fields: tuple[Field, ...]
    # Leads go stale fast; every lead field is judged against the lenient lead threshold.
    threshold_override: ThresholdClass | None = None
    dedupe: bool = False
    _by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {f.name: f for f in self.fields}
        if len(by_name) != len(self.fields):
            raise ValueError(f"entity {self.name} defines a field twice")
        object.__setattr__(self, "_by_name", by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def field(self, name: str) -> Field:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"entity {self.name!r} has no field {name!r}") from None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def keys(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.cls is FieldClass.KEY)

    @property
    def pointers(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.is_pointer)

    @property
    def required(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.required)

    def threshold_class(self, name: str) -> ThresholdClass:
        if self.threshold_override is not None:
            return self.threshold_override
        return ThresholdClass(self.field(name).cls.value)

    def parents(self, entities: tuple[str, ...]) -> set[str]:
        """Entities this one points at (itself excluded: a hierarchy loads in two passes)."""
        found: set[str] = set()
        for f in self.pointers:
            targets = entities if f.target == ANY_ENTITY else (f.target,)
            found.update(t for t in targets if t and t != self.name)
        return found


@dataclass(frozen=True, slots=True)
class Model:
    """All canonical entities, in definition order."""

    entities: tuple[Entity, ...]

    def __post_init__(self) -> None:
        names = self.names
        if len(set(names)) != len(names):
            raise ValueError("an entity is defined twice")
        for entity in self.entities:
            for f in entity.pointers:
                if f.target == ANY_ENTITY:
                    if f.target_from not in entity:
                        raise ValueError(f"{entity.name}.{f.name}: target_from names no field")
                elif f.target not in names:
                    raise ValueError(f"{entity.name}.{f.name} points at unknown {f.target!r}")
        self.load_order()  # a pointer cycle between entities is a model bug; fail at import

    def __iter__(self) -> Iterator[Entity]:
        return iter(self.entities)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.entities)

    def unknown(self, name: str, *, as_typed: str | None = None) -> str:
        """What to tell of a name that is no entity: "unknown entity 'contcat' (did you mean
        'contact'?); entities: account, contact, ...". `as_typed`: the words shown, when the
        guess is made from `name` tidied."""
        guess = did_you_mean(name, self.names)
        return (f"unknown entity {as_typed or name!r}" + (f" (did you mean {guess!r}?)" if guess else "")
                + f"; entities: {', '.join(self.names)}")

    def entity(self, name: str) -> Entity:
        for e in self.entities:
            if e.name == name:
                return e
        raise KeyError(f"no canonical entity {name!r}; known: {', '.join(self.names)}")

    def load_order(self) -> tuple[str, ...]:
        """Parents before children, derived from the pointer graph; ties keep model order."""
        # Polymorphic pointers (ANY_ENTITY) make their entity depend on every other entity
        # except those that in turn point at it, so the order stays acyclic.
        graph: dict[str, set[str]] = {}
        for e in self.entities:
            deps = set()
            for f in e.pointers:
                if f.target != ANY_ENTITY and f.target != e.name:
                    deps.add(f.target)
            graph[e.name] = deps
        for e in self.entities:
            if any(f.target == ANY_ENTITY for f in e.pointers):
                graph[e.name] |= {n for n in self.names if n != e.name and e.name not in graph[n]}
        sorter = TopologicalSorter(graph)
        try:
            sorter.prepare()
        except CycleError as exc:
            raise ValueError(f"pointer cycle between entities: {exc.args[1]}") from None
        position = {n: i for i, n in enumerate(self.names)}
        order: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=position.__getitem__)
            order.extend(ready)
            sorter.done(*ready)
        return tuple(order)

    def children(self, name: str) -> tuple[tuple[str, str], ...]:
        """(entity, field) pairs whose pointer can reach `name`, for re-pointing after a merge."""
        found = []
        for e in self.entities:
            for f in e.pointers:
                if f.target in (name, ANY_ENTITY):
                    found.append((e.name, f.name))
        return tuple(found)


def _id() -> Field:
    return Field("id", FieldType.ID, required=True, cls=FieldClass.KEY)


def _pointer(name: str, target: str, *, required: bool = False) -> Field:
    return Field(name, FieldType.ID, required=required, cls=FieldClass.POINTER, target=target)


def _owner() -> Field:
    return Field("owner", FieldType.STRING, max_length=120)


def _created() -> Field:
    return Field("created_at", FieldType.DATETIME)


def _address(prefix: str) -> tuple[Field, ...]:
    return (
        Field(f"{prefix}_street", FieldType.TEXT, max_length=255),
        Field(f"{prefix}_city", FieldType.STRING, max_length=80),
        Field(f"{prefix}_postal_code", FieldType.STRING, max_length=20),
        Field(f"{prefix}_state", FieldType.STRING, max_length=80),
        Field(f"{prefix}_country", FieldType.COUNTRY),
    )


ACTIVITY_TYPES = ("call", "email", "meeting", "visit", "task")

ACCOUNT = Entity(
    "account",
    (
        _id(),
        Field("name", FieldType.STRING, required=True, cls=FieldClass.KEY, max_length=255),
        _pointer("parent_id", "account"),
        Field("industry", FieldType.PICKLIST),
        Field("phone", FieldType.PHONE),
        Field("website", FieldType.URL),
        Field("email", FieldType.EMAIL),
        *_address("billing"),
        _owner(),
        _created(),
    ),
    dedupe=True,
)

CONTACT = Entity(
    "contact",
    (
        _id(),
        _pointer("account_id", "account"),
        Field("first_name", FieldType.STRING, max_length=80),
        Field("last_name", FieldType.STRING, required=True, cls=FieldClass.KEY, max_length=80),
        Field("email", FieldType.EMAIL),
        Field("phone", FieldType.PHONE),
        Field("mobile", FieldType.PHONE),
        Field("title", FieldType.STRING, max_length=128),
        Field("department", FieldType.STRING, max_length=80),
        *_address("mailing"),
        _owner(),
        _created(),
    ),
    dedupe=True,
)

LEAD = Entity(
    "lead",
    (
        _id(),
        Field("first_name", FieldType.STRING, max_length=80),
        Field("last_name", FieldType.STRING, required=True, cls=FieldClass.KEY, max_length=80),
        Field("company", FieldType.STRING, required=True, max_length=255),
        Field("email", FieldType.EMAIL),
        Field("phone", FieldType.PHONE),
        Field("title", FieldType.STRING, max_length=128),
        Field("source", FieldType.PICKLIST),
        Field("status", FieldType.PICKLIST),
        _owner(),
        _created(),
    ),
    threshold_override=ThresholdClass.LEAD,
)

OPPORTUNITY = Entity(
    "opportunity",
    (
        _id(),
        _pointer("account_id", "account"),
        Field("name", FieldType.STRING, required=True, cls=FieldClass.KEY, max_length=120),
        Field("stage", FieldType.PICKLIST, required=True),
        Field("amount", FieldType.DECIMAL),
        Field("currency", FieldType.CURRENCY),
        Field("close_date", FieldType.DATE, required=True),
        Field("probability", FieldType.DECIMAL),
        _owner(),
        _created(),
    ),
)

OPPORTUNITY_CONTACT_ROLE = Entity(
    "opportunity_contact_role",
    (
        _id(),
        _pointer("opportunity_id", "opportunity", required=True),
        _pointer("contact_id", "contact", required=True),
        Field("role", FieldType.PICKLIST),
        Field("is_primary", FieldType.BOOLEAN),
    ),
)

CASE = Entity(
    "case",
    (
        _id(),
        _pointer("account_id", "account"),
        _pointer("contact_id", "contact"),
        Field("subject", FieldType.STRING, required=True, max_length=255),
        Field("status", FieldType.PICKLIST, required=True),
        Field("priority", FieldType.PICKLIST),
        Field("origin", FieldType.PICKLIST),
        Field("opened_at", FieldType.DATETIME),
        Field("closed_at", FieldType.DATETIME),
        Field("description", FieldType.TEXT),
    ),
)

ACTIVITY = Entity(
    "activity",
    (
        _id(),
        Field("type", FieldType.PICKLIST, required=True, choices=ACTIVITY_TYPES),
        Field("subject", FieldType.STRING, max_length=255),
        Field("related_entity", FieldType.ENTITY_NAME),
        Field(
            "related_id",
            FieldType.ID,
            cls=FieldClass.POINTER,
            target=ANY_ENTITY,
            target_from="related_entity",
        ),
        Field("due_at", FieldType.DATETIME),
        Field("completed_at", FieldType.DATETIME),
        Field("status", FieldType.PICKLIST),
        _owner(),
    ),
)

MODEL = Model(
    (ACCOUNT, CONTACT, LEAD, OPPORTUNITY, OPPORTUNITY_CONTACT_ROLE, CASE, ACTIVITY)
)
