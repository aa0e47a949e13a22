"""Match rules (rules/dedupe.yaml), parsed strictly: per entity, how candidate pairs are found
(blocking keys, their union), how each field of a pair is compared, where the merge and review
bands start, and how the surviving record is built.

A blocking key is a list of parts, each a field with a transform: `[email]` pairs records
with the same email; `[last_name: metaphone, first_name: initial]` pairs records whose
surnames sound alike and whose first names share their initial. A comparison names a method
(`name`, `first_name`, `company`, `exact`, `email`, `phone`, `jaro_winkler`, `levenshtein`,
`date`) and, for `exact`-like levels, whether common values count for less (term frequency).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from crmmigrate import config
from crmmigrate.config import At, Strict
from crmmigrate.defaults import rules_file
from crmmigrate.model import MODEL
from crmmigrate.validate.rules import entity_at, field_at

TRANSFORMS = ("exact", "lower", "digits", "metaphone", "initial", "prefix3", "company_key", "company_prefix",
              "domain", "sorted_tokens", "nickname", "house_street", "postcode")
METHODS = ("exact", "email", "phone", "name", "first_name", "company", "jaro_winkler", "levenshtein", "date",
           "name_tokens", "person_name", "website", "address", "token_overlap", "list_overlap", "numeric", "days",
           "geo", "postcode")
# Methods whose agreement identifies a record on its own, apart from its name (an address, a
# number, a mailbox): by default a merge needs one of these to agree (see MatchSpec.clues).
IDENTIFYING = ("email", "phone", "website", "address")
# A field the rules read from the custom fields a mapping kept (`custom.<column>`).
CUSTOM_PREFIX = "custom."
# Fields the rules may use beyond an entity's own: made from its fields before matching.
VIRTUAL_FIELDS = {"full_name": ("first_name", "last_name"),  # "First Last"
                  "person": ("first_name", "last_name")}  # both, apart, for person_name
# Fields of a record made with the records pointing at it (crmmigrate.dedupe.related), and the
# record's own fields each starts from: an account's domain is its website's, else its contacts'
# mail domain; its switchboard its phone, else the number its contacts share.
RELATED_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {"account": {"domain": ("website",),
                                                                     "switchboard": ("phone",)}}
MASTER_RULES = ("already_loaded", "most_complete", "oldest", "newest", "source_priority", "most_children")
FIELD_RULES = ("master", "most_recent", "longest", "most_frequent", "source_priority")


class KeyPart(Strict):
    field: str
    transform: Literal[TRANSFORMS] = "exact"  # type: ignore[valid-type]


def _part(value: Any) -> Any:
    """`email` or `{last_name: metaphone}` as a KeyPart."""
    if isinstance(value, str):
        return {"field": value}
    if isinstance(value, dict) and len(value) == 1 and "field" not in value:
        (name, transform), = value.items()
        return {"field": name, "transform": transform}
    return value


Part = Annotated[KeyPart, BeforeValidator(_part)]


class Comparison(Strict):
    method: Literal[METHODS]  # type: ignore[valid-type]
    term_frequency: bool = False  # a common value agreeing is weaker evidence than a rare one
    # The field this one is often made from (an email's local part from the person's name, a
    # website from the company's name): where a value is so made, agreeing on the part made
    # from it is no evidence beyond what that field's own comparison counts.
    built_from: str | None = None
    # The cuts of a distance method's levels, closest first (numeric: relative difference;
    # days: days apart; geo: kilometres; token_overlap, list_overlap: shared share).
    thresholds: list[float] | None = None

    @model_validator(mode="after")
    def _cuts(self) -> Comparison:
        if self.thresholds is not None:
            if self.method not in DISTANCE_CUTS:
                raise At(("thresholds",), f"the {self.method} method takes no thresholds (only "
                         + ", ".join(DISTANCE_CUTS) + " do)")
            if len(self.thresholds) != len(DISTANCE_CUTS[self.method]):
                raise At(("thresholds",), f"the {self.method} method takes {len(DISTANCE_CUTS[self.method])} "
                         "thresholds")
            ordered = sorted(self.thresholds, reverse=self.method in ("token_overlap", "list_overlap"))
            if list(self.thresholds) != ordered or len(set(self.thresholds)) != len(self.thresholds):
                raise At(("thresholds",), "thresholds go from the closest to the farthest, each once")
        return self

    @property
    def cuts(self) -> list[float]:
        return list(self.thresholds) if self.thresholds is not None else DISTANCE_CUTS.get(self.method, [])


# The default cuts of the distance methods, closest first.
DISTANCE_CUTS: dict[str, list[float]] = {
    "numeric": [0.01, 0.1],          # relative difference
    "days": [1, 31, 366],            # days apart
    "geo": [0.1, 1.0, 10.0],         # kilometres apart
    "token_overlap": [0.8, 0.5],     # share of the smaller set's words in the other
    "list_overlap": [0.8, 0.3],      # share of the shorter list's items in the other
}


def _comparison(value: Any) -> Any:
    return {"method": value} if isinstance(value, str) else value


class Survivorship(Strict):
    """Which record of a cluster is the master, rule after rule until one is left, and how each
    field of the surviving record is chosen (default: the master's value)."""

    master: list[Literal[MASTER_RULES]] = ["already_loaded", "most_complete", "oldest"]  # type: ignore[valid-type]
    fields: dict[str, Literal[FIELD_RULES]] = {}  # type: ignore[valid-type]
    sources: list[str] = []  # source priority, first wins (for the source_priority rules)


class MatchSpec(Strict):
    """How one entity's records are matched, scored, banded and merged."""

    blocking: list[list[Part]] = Field(min_length=1)
    # At most 20: a pair's levels are scored together as one number (every combination of them).
    compare: dict[str, Annotated[Comparison, BeforeValidator(_comparison)]] = Field(min_length=1, max_length=20)
    # Keys whose pairs fit m (default: the blocking keys). Leave out a key that pairs mostly
    # different records (a switchboard phone pairs colleagues): EM would learn from them that
    # duplicates differ in name.
    training: list[list[Part]] | None = None
    merge: float = Field(0.95, gt=0, lt=1, description="match probability from which a pair is merged")
    review: float = Field(0.5, gt=0, lt=1, description="match probability from which a pair goes to review")
    # A block pairs every two of its records: 500 make 125k pairs, mostly strangers when the key
    # is a common surname and an initial; a bigger block is refined by the account or city
    # first (what a duplicate shares and the crowd does not), then by the other keys' fields.
    max_block: int = Field(500, ge=2, description="records sharing a key beyond which the key is refined with "
                           "another field, and pairs none if that cannot split it")
    # Evidence apart from the name that a merge needs (precision first): each entry is a list of
    # compared fields that must all agree (at an identifying level, on a value at most
    # records of at most `clue_max_records` different names share). Default: each compared field of an IDENTIFYING method
    # on its own, and each compared pointer (the same account). A pair above the merge band
    # with none of them goes to review, with the reason.
    clues: list[list[str]] | None = None
    clue_max_records: int = Field(5, ge=2, description="different names whose records may share a value for it "
                                  "to identify one of them")
    survivorship: Survivorship = Survivorship()

    @model_validator(mode="after")
    def _bands(self) -> MatchSpec:
        if self.review >= self.merge:
            raise At(("review",), f"review ({self.review}) must be below merge ({self.merge})")
        return self

    @model_validator(mode="after")
    def _clues_compared(self) -> MatchSpec:
        for number, clue in enumerate(self.clues or []):
            for index, name in enumerate(clue):
                if name not in self.compare:
                    raise At(("clues", number, index), f"{name!r} is not compared: a clue is one of the compared "
                             f"fields ({', '.join(self.compare)})")
        for name, comparison in self.compare.items():
            if comparison.built_from is not None and comparison.built_from not in self.compare \
                    and comparison.built_from not in VIRTUAL_FIELDS:
                raise At(("compare", name, "built_from"), f"{comparison.built_from!r} is not a compared field")
        return self

    @property
    def fields(self) -> list[str]:
        """Every field the rules read."""
        used = [p.field for key in self.blocking + (self.training or []) for p in key] + list(self.compare)
        used += [c.built_from for c in self.compare.values() if c.built_from]
        return list(dict.fromkeys(used))

    def clue_sets(self, pointers: tuple[str, ...] = ()) -> list[list[str]]:
        """The clues a merge needs (`clues`, or the default: each compared field of an
        identifying method, and each compared pointer among `pointers`)."""
        if self.clues is not None:
            return [list(c) for c in self.clues]
        return [[name] for name, c in self.compare.items()
                if c.method in IDENTIFYING or (name in pointers and c.method == "exact")]


class DedupeRules(Strict):
    entities: dict[str, MatchSpec] = {}
    # Leads checked against contacts: a lead whose person a contact already is, is flagged.
    # Its fields are the lead's; a contact's company is its account's name.
    leads: MatchSpec | None = None

    @model_validator(mode="after")
    def _known_names(self) -> DedupeRules:
        for entity, spec in self.entities.items():
            entity_at(entity, ("entities", entity))
            if not MODEL.entity(entity).dedupe:
                raise At(("entities", entity), f"{entity} records are not deduplicated (only "
                         + ", ".join(e.name for e in MODEL.entities if e.dedupe) + " are)")
            for number, key in enumerate(spec.blocking):
                for index, part in enumerate(key):
                    _field_at(entity, part.field, ("entities", entity, "blocking", number, index))
            for number, key in enumerate(spec.training or []):
                for index, part in enumerate(key):
                    _field_at(entity, part.field, ("entities", entity, "training", number, index))
            for name in spec.compare:
                _field_at(entity, name, ("entities", entity, "compare", name))
            for name in spec.survivorship.fields:
                field_at(entity, name, ("entities", entity, "survivorship", "fields", name))
        if self.leads is not None:
            for number, key in enumerate(self.leads.blocking):
                for index, part in enumerate(key):
                    _lead_field(part.field, ("leads", "blocking", number, index))
            for name in self.leads.compare:
                _lead_field(name, ("leads", "compare", name))
        return self


def _lead_field(name: str, where: tuple) -> None:
    """A field of the lead/contact comparison: a lead's (a lead's phone is compared with a
    contact's mobile too), or `mobile`."""
    if name != "mobile":
        _field_at("lead", name, where)


def _field_at(entity: str, name: str, where: tuple) -> None:
    if name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
        return  # a custom field: whether the mapping keeps it is known only with the data
    if name in VIRTUAL_FIELDS and all(f in MODEL.entity(entity) for f in VIRTUAL_FIELDS[name]):
        return
    if name in RELATED_FIELDS.get(entity, {}):
        return
    field_at(entity, name, where)


def load_dedupe_rules(path: Path | None = None) -> DedupeRules:
    """The rules at `path`; else a migration project's own rules/dedupe.yaml when run from it,
    else the ones crmmigrate ships."""
    return config.load(DedupeRules, Path(path) if path else rules_file("dedupe.yaml"))
